"""The generate run: resolve flags and presets into a plan, then execute it and write the images."""
