"""Process-level concerns: folders, logging, state, device and dtype choice."""
