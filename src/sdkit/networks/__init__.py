"""Extra networks that change a model for one run: LoRA / LyCORIS files and textual-inversion embeddings.

Finding the files (in the models folder's `Lora/` and `embeddings/` subfolders, or by path), reading
them safely, their A1111 hashes and what format and family they are. Applying them to a loaded
pipeline is the SD engine's part (`sdkit.engines.sd`).
"""
