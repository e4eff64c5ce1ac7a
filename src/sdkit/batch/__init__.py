"""`sdkit batch`: many jobs from one file, swept and expanded, run with one model load per model, resumable.

Kept apart so the server and a distributed runner can reuse each part: `jobs` reads a job file,
`expand` turns jobs into one item per image, `plans` plans every item, `manifest` and `record` keep
what is finished, `runner` runs a batch resumably through an executor: `executor.LocalExecutor` (this
process, the default) or `ray_executor.RayExecutor` (Ray workers: `ray_cluster`, `ray_pool`,
`ray_worker`, placed by `placement`).
"""
