"""Files on disk, done once: atomic writing (`sdkit.files.atomic`) and opening input images (`sdkit.files.images`).

This package sits just above `sdkit.core`: it imports only `sdkit.core` and the standard library (Pillow
inside the functions that need it), so any layer may use it without pulling in torch or numpy.
"""
