"""Presets: versioned YAML files that name a task, optionally an engine, mode and model, and parameters."""
