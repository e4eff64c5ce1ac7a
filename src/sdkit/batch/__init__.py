"""`sdkit batch`: many jobs from one file, swept and expanded, run with one model load per model, resumable.

Kept apart so the server and a distributed runner can reuse each part: `jobs` reads a job file,
`expand` turns jobs into one item per image, `manifest` records finished images, `runner` plans and
runs the items.
"""
