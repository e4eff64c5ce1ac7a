"""Output files: naming, atomic writing and A1111 infotext."""
