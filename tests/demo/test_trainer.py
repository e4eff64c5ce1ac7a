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


def test_both_targets_weigh_the_clean_image_error_by_min_snr(trainer):
    import torch

    torch.manual_seed(0)
    clean, noise = torch.randn(3, 4, 16, 16), torch.randn(3, 4, 16, 16)
    timesteps = torch.tensor([999, 500, 10])
    alphas_cumprod = trainer.make_scheduler().alphas_cumprod
    alpha_bar = alphas_cumprod[timesteps].view(-1, 1, 1, 1)
    noisy = alpha_bar.sqrt() * clean + (1 - alpha_bar).sqrt() * noise

    velocity, v_weight = trainer.loss_target_and_weight("v", clean, noise, timesteps, alphas_cumprod, min_snr=5.0)
    # How diffusers' schedulers read a v prediction back into the clean image:
    assert torch.allclose(alpha_bar.sqrt() * noisy - (1 - alpha_bar).sqrt() * velocity, clean, atol=1e-5)
    target, eps_weight = trainer.loss_target_and_weight("eps", clean, noise, timesteps, alphas_cumprod, min_snr=5.0)
    assert torch.equal(target, noise)

    # The clean-image error costs (SNR + 1) x the v error and SNR x the epsilon error; both weights make it
    # count min(SNR, 5) times.
    snr = (alpha_bar / (1 - alpha_bar)).flatten()
    assert torch.allclose(v_weight * (snr + 1), torch.clamp(snr, max=5.0))
    assert torch.allclose(eps_weight * snr, torch.clamp(snr, max=5.0))


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
    phase_1 = checkpoint_step(trainer, "unet.ckpt")
    assert phase_1 > first > 0

    # Phase 2 of the recipe: a second folder sharing the data, warm-started from phase 1, predicting v.
    phase_1_work = trainer.WORK
    monkeypatch.setattr(trainer, "WORK", tmp_path / "phase2")
    trainer.WORK.mkdir()
    for name in ("data.npz", "latents.pt", "tokenizer", "vae", "vae_report.json"):
        (trainer.WORK / name).symlink_to(phase_1_work / name)
    trainer.main(["unet", "0.02", "noise=0", "predict=v", f"warm={phase_1_work / 'unet.ckpt'}"])
    first = checkpoint_step(trainer, "unet.ckpt")
    trainer.main(["unet", "0.02", "noise=0"])  # resumes, still predicting v
    assert checkpoint_step(trainer, "unet.ckpt") > first > 0
    assert trainer.load_checkpoint(trainer.WORK / "unet.ckpt")["prediction"] == "v"

    out = tmp_path / "model"
    trainer.main(["export", str(out), "cfg=2.5"])
    assert json.loads((out / "sdkit.json").read_text()) == {"recommended": {"cfg_scale": 2.5}}
    record = json.loads((out / "training.json").read_text())
    assert record["prediction"] == "v"
    assert (record["warm_start"]["steps"], record["warm_start"]["prediction"]) == (phase_1, "eps")
    assert not list(out.rglob("*.bin")), "weights must be safetensors"
    assert json.loads((out / "scheduler" / "scheduler_config.json").read_text())["prediction_type"] == "v_prediction"
    pipe = StableDiffusionPipeline.from_pretrained(out, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle on a blue background", num_inference_steps=2,
                 generator=torch.Generator("cpu").manual_seed(0)).images[0]
    assert image.size == (64, 64)


def test_unknown_decay_or_prediction_is_refused(trainer, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "WORK", tmp_path / "work")
    with pytest.raises(SystemExit, match="decay must be none or cosine"):
        trainer.stage_unet(0.01, decay="linear")
    with pytest.raises(SystemExit, match="prediction must be one of eps, v"):
        trainer.stage_unet(0.01, prediction="x0")
