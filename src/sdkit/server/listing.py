"""The A1111 listing endpoints' bodies (sd-models, sd-vae, samplers, schedulers, upscalers, embeddings,
loras, memory), read live from the models folder and sdkit's tables, so a refresh is never needed."""

from __future__ import annotations

import sys
from typing import Any

from sdkit.server.names import checkpoints, upscalers, vaes


def sd_models() -> list[dict[str, Any]]:
    return [{"title": checkpoint.title, "model_name": checkpoint.name, "hash": None, "sha256": None,
             "filename": checkpoint.location, "config": None} for checkpoint in checkpoints()]


def sd_vaes() -> list[dict[str, Any]]:
    return [{"model_name": name, "filename": str(path)} for name, path in vaes().items()]


def samplers() -> list[dict[str, Any]]:
    from sdkit.samplers import sampler_table

    table = sampler_table()
    return [{"name": spec.display_name, "aliases": [spec.id, *table.aliases(spec.id)],
             "options": {"scheduler": spec.default_schedule}}
            for spec in table.samplers.values() if spec.supported]


def schedulers() -> list[dict[str, Any]]:
    from sdkit.samplers import SCHEDULES

    return [{"name": schedule.id, "label": schedule.label, "aliases": list(schedule.aliases) or None,
             "default_rho": -1, "need_inner_model": False}
            for schedule in SCHEDULES if schedule.supported]


def upscaler_list() -> list[dict[str, Any]]:
    return [{"name": name, "model_name": name if path is not None else None,
             "model_path": str(path) if path is not None else None, "model_url": None,
             "scale": None} for name, path in upscalers().items()]  # a model's scale is read only when it loads


def embeddings() -> dict[str, Any]:
    from sdkit.networks.embeddings import EmbeddingLibrary, embeddings_folder
    from sdkit.runtime.config import models_dir

    library = EmbeddingLibrary.scan(embeddings_folder(models_dir()))
    return {"loaded": {name: {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                              "shape": None, "vectors": None} for name in library.names},
            "skipped": {}}


def loras() -> list[dict[str, Any]]:
    from sdkit.networks.lora_files import available_loras

    return [{"name": name, "alias": name, "path": str(path), "metadata": {}}
            for name, path in available_loras().items() if "/" not in name]


def memory() -> dict[str, Any]:
    from sdkit.runtime.machine import memory as ram

    facts = ram()
    total, free = facts.total_bytes, facts.available_bytes
    body: dict[str, Any] = {"ram": {"free": free, "used": (total - free) if total and free else None, "total": total}}
    torch = sys.modules.get("torch")  # only when a job has imported it; listing never loads torch
    if torch is not None and torch.cuda.is_available():
        free_bytes, total_bytes = torch.cuda.mem_get_info()
        body["cuda"] = {"system": {"free": free_bytes, "used": total_bytes - free_bytes, "total": total_bytes},
                        "active": {"current": torch.cuda.memory_allocated(), "peak": torch.cuda.max_memory_allocated()}}
    else:
        body["cuda"] = {"error": "no CUDA device is in use"}
    return body
