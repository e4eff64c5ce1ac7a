"""The bad-input corpus (issue 14): hostile but realistic input for every command, as a table of cases."""
