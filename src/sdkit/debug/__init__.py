"""Bug-report support: the `export-debug` bundle, its redaction, and the plugin inventory."""
