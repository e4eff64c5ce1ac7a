"""The command line: the only layer that prints to people and chooses exit codes."""
