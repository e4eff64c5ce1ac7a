"""sdkit: a command-line toolkit for Stable Diffusion image generation."""

__version__ = "0.6.0"
