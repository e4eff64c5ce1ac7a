"""The demo model's trainer (training/train_demo_model.py): its schedule, resuming, and a loadable export.

A few seconds of every stage on a 48-image data set: too short to learn anything, long enough to show that
each stage writes what the next one reads, that a second call resumes where the first stopped, and that
the export is a diffusers folder any SD 1.x pipeline loads.
"""

from __future__ import annotations

import json
import math

import pytest


def test_cosine_schedule_decays_to_five_percent_after_a_warm_up(trainer):
    scale = trainer.learning_rate_scale
    assert scale(progress=0.0, phase_step=50, decay="cosine") == pytest.approx(0.5)  # warming up
    assert scale(progress=0.0, phase_step=100, decay="cosine") == pytest.approx(1.0)
    assert scale(progress=0.5, phase_step=5000, decay="cosine") == pytest.approx(0.5)
    assert scale(progress=1.0, phase_step=9000, decay="cosine") == pytest.approx(0.05)
    over_the_phase = [scale(progress=p / 10, phase_step=10_000, decay="cosine") for p in range(11)]
    assert over_the_phase == sorted(over_the_phase, reverse=True)
    assert all(math.isclose(scale(progress=p / 10, phase_step=500, decay="none"), 1.0) for p in range(11))


def checkpoint_step(trainer, name: str) -> int:
    return int(trainer.load_checkpoint(trainer.WORK / name)["step"])


def test_stages_resume_and_export_a_loadable_sd1_folder(trainer, tmp_path, monkeypatch):
    import torch
    from diffusers import StableDiffusionPipeline

    monkeypatch.setattr(trainer, "WORK", tmp_path / "work")
    monkeypatch.setattr(trainer, "DATASET_SIZE", 48)
    trainer.main(["data"])
    assert (trainer.WORK / "data.npz").exists()

    trainer.main(["vae", "0.02", "codes=0.1"])
    first = checkpoint_step(trainer, "vae.ckpt")
    trainer.main(["vae", "0.02", "codes=0.1"])  # resumes: weights, optimiser, step and RNG
    assert checkpoint_step(trainer, "vae.ckpt") > first > 0
    report = json.loads((trainer.WORK / "vae_report.json").read_text())
    assert set(report["reconstruction_scores"]) == {"background", "colour", "shape"}
    assert torch.load(trainer.WORK / "latents.pt", weights_only=True)["mean"].shape == (48, 4, 16, 16)

    trainer.main(["unet", "0.02", "noise=0", "ema=0.999", "decay=cosine"])
    first = checkpoint_step(trainer, "unet.ckpt")
    trainer.main(["unet", "0.02", "noise=0", "ema=0.999", "decay=cosine"])
    assert checkpoint_step(trainer, "unet.ckpt") > first > 0

    out = tmp_path / "model"
    trainer.main(["export", str(out), "cfg=2.5"])
    assert json.loads((out / "sdkit.json").read_text()) == {"recommended": {"cfg_scale": 2.5}}
    assert not list(out.rglob("*.bin")), "weights must be safetensors"
    pipe = StableDiffusionPipeline.from_pretrained(out, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle on a blue background", num_inference_steps=2,
                 generator=torch.Generator("cpu").manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_unknown_decay_is_refused(trainer, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "WORK", tmp_path / "work")
    with pytest.raises(SystemExit, match="decay must be none or cosine"):
        trainer.stage_unet(0.01, decay="linear")
