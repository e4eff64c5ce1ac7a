"""Train the bundled "shapes" demo model on a CPU, in resumable stages, and export it into the package.

Usage (run from the repository root; the working folder holds data and checkpoints and is never committed):
    python training/train_demo_model.py data             # draw the captioned data set
    python training/train_demo_model.py vae  MINUTES [lr=X codes=W]  # train the VAE (resumes), then cache latents
    python training/train_demo_model.py latents          # re-cache latents of every image with the saved VAE
    python training/train_demo_model.py unet MINUTES [lr=X noise=Y ema=D decay=cosine predict=v warm=CKPT]
                                                         # text encoder + UNet (resumes)
    python training/train_demo_model.py export [OUT] [cfg=X]  # write the fp16 diffusers folder (default: the
                                                         # package's) recommending guidance X (sdkit.json)
Environment: SDKIT_DEMO_WORK (working folder, default /work/train-demo), SDKIT_DEMO_THREADS (default 1:
on a shared, loaded 2-core machine one thread ran a VAE step 5x faster than two, which stall each other).
Each stage is seeded; a resumed stage continues from its latest checkpoint (weights, optimiser, step, RNG).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.demo.evaluate import score_images
from sdkit.demo.shapes import IMAGE_SIZE, Combo, sample_training_set, vocabulary

log = logging.getLogger("train_demo_model")
WORK = Path(os.environ.get("SDKIT_DEMO_WORK", "/work/train-demo"))
DATASET_SIZE = int(os.environ.get("SDKIT_DEMO_DATASET_SIZE", "30000"))
DATA_SEED = 0
MAX_TOKENS = 16  # tokenizer model_max_length == text encoder max_position_embeddings (the pipeline pads to it)
CHECKPOINT_SECONDS = 180
LATENT_IMAGES = 30_000  # the first run cached 12,000; `latents` re-caches all of them for the second
LATENT_CHANNELS = 4
VAE_BLOCKS = (16, 32, 64)  # three blocks: 64x64 pixels -> 16x16 latents (scale factor 4)


# ------------------------------------------------------------------ components
def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=VAE_BLOCKS,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_BLOCKS),
        layers_per_block=1,
        # Thin full-resolution layers: on a shared 2-core CPU their cost, not capacity, is the limit.
        norm_num_groups=8,
        sample_size=IMAGE_SIZE,
        # Flat-coloured shapes need no global attention; dropping it makes every step cheaper.
        mid_block_add_attention=False,
    )


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def tensor_to_pil(batch: torch.Tensor) -> list:
    from PIL import Image

    pixels = ((batch.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(pixel_array) for pixel_array in pixels]


def load_data() -> tuple[np.ndarray, list[str]]:
    data = np.load(WORK / "data.npz")
    return data["images"], [str(text) for text in data["captions"]]


def combo_of(caption_text: str) -> Combo:
    words = caption_text.split()  # "a <colour> <shape> on a <background> background"
    return Combo(words[1], words[2], words[5])


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path: Path, **state) -> None:
    """Write atomically, so an interrupted run never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path: Path) -> dict | None:
    if not path.exists():
        return None
    # weights_only: our own checkpoints hold only tensors, numbers and plain containers.
    return torch.load(path, weights_only=True)


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(np.random.get_state()[1].astype(np.int64))}


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), 624, 0, 0.0))


# ------------------------------------------------------------------ stage: data
def stage_data() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.time()
    images, captions = sample_training_set(DATASET_SIZE, DATA_SEED)
    np.savez(WORK / "data.npz", images=images, captions=np.array(captions))
    log.info("data: %d images %s in %.1fs, e.g. %r", len(images), images.shape[1:], time.time() - started, captions[0])


# ------------------------------------------------------------------ stage: vae
# Where each flat colour sits in latent space (times COLOUR_CODE_SCALE): 8 of the 16 corners of a 4-D cube,
# each two channels from the others (the even-weight code). Left to itself the first VAE packed the
# colours close together (red-orange 0.84, purple-blue 0.87 latent std apart) and drew purple as a texture,
# so the UNet's small errors swapped colours; these corners are 2*sqrt(2) code units apart or more (2.6 latent
# standard deviations once trained, 3x the first VAE's closest pair).
COLOUR_CODES = {
    "white": (1, 1, 1, 1), "black": (-1, -1, -1, -1), "yellow": (1, 1, -1, -1), "purple": (-1, -1, 1, 1),
    "red": (1, -1, 1, -1), "green": (-1, 1, -1, 1), "orange": (1, -1, -1, 1), "blue": (-1, 1, 1, -1),
}
COLOUR_CODE_SCALE = 1.5


def colour_labels(images: np.ndarray) -> torch.Tensor:
    """Each pixel's palette index (the data set is drawn without anti-aliasing, so every pixel is exact)."""
    from sdkit.demo.shapes import COLOURS

    packed = images.astype(np.int64) @ np.array([65536, 256, 1])
    labels = np.full(packed.shape, -1, dtype=np.int64)
    for index, rgb in enumerate(COLOURS.values()):
        labels[packed == rgb[0] * 65536 + rgb[1] * 256 + rgb[2]] = index
    return torch.from_numpy(labels)


def colour_code_loss(latent_mean: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MSE between the latent and its colour's code, where a latent pixel sees one flat colour only.

    A latent pixel covers 4x4 pixels; it counts as flat when the 12x12 window around it (its block and the
    eight neighbours) holds a single colour. Edges stay free for whatever the decoder needs there.
    """
    from sdkit.demo.shapes import COLOURS

    codes = COLOUR_CODE_SCALE * torch.tensor([COLOUR_CODES[name] for name in COLOURS], dtype=torch.float32)
    label_map = labels.unsqueeze(1).float()
    highest = F.max_pool2d(label_map, kernel_size=12, stride=4, padding=4)
    lowest = -F.max_pool2d(-label_map, kernel_size=12, stride=4, padding=4)
    flat = (highest == lowest)[:, 0]  # (batch, 16, 16)
    if not flat.any():
        return latent_mean.sum() * 0
    target = codes[highest[:, 0].long().clamp(min=0)]  # (batch, 16, 16, 4)
    return F.mse_loss(latent_mean.permute(0, 2, 3, 1)[flat], target[flat])


def stage_vae(minutes: float, batch_size: int = 8, learning_rate: float = 1.5e-3, kl_weight: float = 1e-6,
              code_weight: float = 0.0) -> None:
    """Train the VAE (resumes). code_weight > 0 pulls flat colours onto COLOUR_CODES (the second VAE)."""
    images, captions = load_data()
    checkpoint_path = WORK / "vae.ckpt"
    torch.manual_seed(1)
    np.random.seed(1)
    vae = make_vae()
    optimiser = torch.optim.AdamW(vae.parameters(), lr=learning_rate, betas=(0.9, 0.99), weight_decay=0.0)
    step, spent = 0, 0.0
    state = load_checkpoint(checkpoint_path)
    if state:
        vae.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, spent = int(state["step"]), float(state["seconds"])
        restore_rng(state["rng"])
        log.info("vae: resumed at step %d (%.0fs trained)", step, spent)
    log.info("vae: %d parameters", sum(p.numel() for p in vae.parameters()))
    vae.train()
    started, last_save, recent = time.time(), time.time(), []
    while time.time() - started < minutes * 60:
        chosen = np.random.randint(0, len(images), batch_size)
        batch = images_to_tensor(images[chosen])
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample()).sample
        # MSE for colour, L1 for crisp edges; a tiny KL keeps the latent a well-behaved Gaussian.
        mse = F.mse_loss(reconstruction, batch)
        loss = mse + F.l1_loss(reconstruction, batch) + kl_weight * posterior.kl().mean()
        if code_weight:
            code_loss = colour_code_loss(posterior.mean, colour_labels(images[chosen]))
            loss = loss + code_weight * code_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimiser.step()
        step += 1
        recent.append((mse.item(), code_loss.item() if code_weight else 0.0))
        if step % 10 == 0:
            log.info("vae step %d  %.0fs  mse(avg10) %.5f  code(avg10) %.4f", step, spent + time.time() - started,
                     *np.mean(recent[-10:], axis=0))
        if time.time() - last_save > CHECKPOINT_SECONDS:
            save_checkpoint(checkpoint_path, model=vae.state_dict(), optimiser=optimiser.state_dict(), step=step,
                            seconds=spent + time.time() - started, rng=rng_state())
            last_save = time.time()
    spent += time.time() - started
    save_checkpoint(checkpoint_path, model=vae.state_dict(), optimiser=optimiser.state_dict(), step=step,
                    seconds=spent, rng=rng_state())
    log.info("vae: trained %d steps in %.0fs total", step, spent)
    finish_vae(vae, images, captions, step, spent)


@torch.no_grad()
def finish_vae(vae, images: np.ndarray, captions: list[str], step: int, seconds: float) -> None:
    """Score reconstructions with the evaluator, cache latents, set scaling_factor, save the VAE folder."""
    mean, std = encode_latents(vae, images)
    scaling_factor = float(1.0 / mean.std())
    vae.register_to_config(scaling_factor=scaling_factor)
    sample = np.random.RandomState(7).choice(len(mean), min(300, len(mean)), replace=False)
    reconstructions = []
    for start in range(0, len(sample), 100):
        reconstructions += tensor_to_pil(vae.decode(mean[sample[start : start + 100]]).sample)
    scores = score_images(reconstructions, [combo_of(captions[i]) for i in sample])
    report = {"steps": step, "seconds": round(seconds), "scaling_factor": scaling_factor,
              "latent_std": float(mean.std()), "posterior_std": float(std.mean()),
              "reconstruction_scores": scores}
    log.info("vae report: %s", json.dumps(report))
    (WORK / "vae_report.json").write_text(json.dumps(report, indent=2))
    vae.save_pretrained(WORK / "vae")
    save_latents(mean, std)
    grid = np.concatenate([np.concatenate(list(images[sample[:10]]), 1),
                           np.concatenate([np.asarray(image) for image in reconstructions[:10]], 1)], 0)
    from PIL import Image

    Image.fromarray(grid).save(WORK / "vae_reconstructions.png")


@torch.no_grad()
def encode_latents(vae, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and stds of the first LATENT_IMAGES images, the UNet's training set."""
    vae.eval()
    means, stds = [], []
    for start in range(0, min(len(images), LATENT_IMAGES), 500):
        posterior = vae.encode(images_to_tensor(images[start : min(start + 500, LATENT_IMAGES)])).latent_dist
        means.append(posterior.mean)
        stds.append(posterior.std)
    return torch.cat(means), torch.cat(stds)


def save_latents(mean: torch.Tensor, std: torch.Tensor) -> None:
    temporary = WORK / "latents.tmp"
    torch.save({"mean": mean.half(), "std": std.half()}, temporary)
    os.replace(temporary, WORK / "latents.pt")


def stage_latents() -> None:
    """Re-cache latents with the saved VAE (its scaling factor stays: the UNet was trained with it)."""
    from diffusers import AutoencoderKL

    started = time.time()
    images, _ = load_data()
    mean, std = encode_latents(AutoencoderKL.from_pretrained(WORK / "vae"), images)
    save_latents(mean, std)
    log.info("latents: %d images in %.0fs, std %.3f", len(mean), time.time() - started, float(mean.std()))


# ------------------------------------------------------------------ tokenizer, text encoder, UNet
TEXT_HIDDEN = 64
# Narrow but three levels deep (16x16 -> 8x8 -> 4x4 latents): on a shared CPU, more training steps of a
# small UNet beat fewer of a wide one, and the 4x4 level sees the whole image.
UNET_BLOCKS = (32, 64, 64)


def build_tokenizer_files(folder: Path) -> None:
    """A CLIP BPE tokenizer whose merges build each caption word into one whole-word token.

    The merges are learned from the word list alone, so every vocabulary word encodes to a single token and
    `CLIPTokenizer.from_pretrained` loads the folder like any SD 1.x tokenizer. Unknown words fall back to
    pieces or to the end-of-text token. Padding uses end-of-text, as CLIP does; its id (1) is not 2, which
    keeps transformers away from CLIP's legacy argmax pooling.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  end_of_word_suffix="</w>", show_progress=False, min_frequency=1)
    bpe.train_from_iterator([" ".join(vocabulary())] * 4, trainer)
    model = json.loads(bpe.to_str())["model"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(model["vocab"], indent=0, sort_keys=True))
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in model["merges"]]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": MAX_TOKENS, "do_lower_case": True, **special},
        indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))


def load_tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(folder)
    for word in vocabulary():  # the whole point of the word-level vocabulary: one token per word
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word
    return tokenizer


def tokenize(tokenizer, texts: list[str]) -> torch.Tensor:
    # Exactly as StableDiffusionPipeline does: pad to model_max_length, no attention mask.
    return tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


def make_text_encoder(tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TEXT_HIDDEN, intermediate_size=4 * TEXT_HIDDEN,
        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=MAX_TOKENS,
        projection_dim=TEXT_HIDDEN, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def make_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 2 ** (len(VAE_BLOCKS) - 1), in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS, layers_per_block=1, block_out_channels=UNET_BLOCKS,
        # No attention at 16x16: it is the dearest level, and the coarser levels carry the prompt well enough.
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(UNET_BLOCKS) - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (len(UNET_BLOCKS) - 1) + ("UpBlock2D",),
        cross_attention_dim=TEXT_HIDDEN, attention_head_dim=4, norm_num_groups=16,
        # The prompt, pooled, also joins the timestep embedding, so every ResNet block (the 16x16 level too)
        # is told the colours; cross-attention alone left shape colours mixed. Plain SD pipelines run it:
        # the UNet pools the text encoder's states itself.
        addition_embed_type="text", addition_embed_type_num_heads=4)


def warm_start(modules: torch.nn.ModuleDict, checkpoint_path: Path) -> dict:
    """Start from an earlier run's EMA weights; parts it lacked start as a no-op. Returns what the earlier
    run was (steps, seconds, prediction), which the new run's checkpoints and the export keep.

    If the run lacked the text embedding, its last LayerNorm gets zero gain, so the grown UNet first computes
    exactly what the earlier one did and learns to use the new path from there. A run on another VAE's
    latents is still a better start than random weights: the text encoder and the UNet's features carry over.
    """
    state = load_checkpoint(checkpoint_path)
    if state is None:
        raise SystemExit(f"warm start: no checkpoint at {checkpoint_path}")
    missing, unexpected = modules.load_state_dict(state["ema"], strict=False)
    if unexpected or any(not name.startswith("unet.add_embedding.") for name in missing):
        raise SystemExit(f"warm start: {checkpoint_path} does not fit (missing {missing}, unexpected {unexpected})")
    if missing:  # an earlier run without the text embedding: make the new path start as a no-op
        torch.nn.init.zeros_(modules["unet"].add_embedding.norm2.weight)
    log.info("unet: warm start from %s (step %d), new: %s", checkpoint_path, int(state["step"]), missing)
    return {"steps": int(state["step"]), "seconds": round(float(state["seconds"])),
            "prediction": state.get("prediction", "eps"), "warm_start": state.get("warm_start")}


PREDICTION_TYPES = {"eps": "epsilon", "v": "v_prediction"}


def make_scheduler(prediction: str = "eps"):
    """The default sampler: DPM-Solver++ (2M) over SD 1's scaled-linear betas."""
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type=PREDICTION_TYPES[prediction], algorithm_type="dpmsolver++", solver_order=2, steps_offset=1)


# ------------------------------------------------------------------ stage: unet
WARMUP_STEPS = 100
FINAL_RATE_SHARE = 0.05


def learning_rate_scale(progress: float, phase_step: int, decay: str) -> float:
    """The share of the base rate at `progress` (0-1) of a phase's minutes: a warm-up over its first
    WARMUP_STEPS steps, then constant ("none") or a cosine down to FINAL_RATE_SHARE ("cosine")."""
    warm_up = min(1.0, phase_step / WARMUP_STEPS)
    if decay == "cosine":
        return warm_up * max(FINAL_RATE_SHARE, 0.5 * (1 + math.cos(math.pi * progress)))
    return warm_up


def loss_target_and_weight(prediction: str, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                           alphas_cumprod: torch.Tensor, min_snr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """What the UNet learns to output, and each example's min-SNR weight.

    Both targets weigh the clean-image error by min(SNR, min_snr), so easy low-noise steps stop dominating
    the loss. They differ at high noise: epsilon prediction reads the clean image off as (x_t - sigma *
    eps) / alpha, which multiplies the network's error by 1/alpha (14x at t = 999), while v prediction
    states it directly - and at high noise the prompt alone must pick the shape's colour.
    """
    alpha_bar = alphas_cumprod[timesteps]
    snr = alpha_bar / (1 - alpha_bar)
    if prediction == "v":
        shape = (-1, 1, 1, 1)
        velocity = alpha_bar.sqrt().view(shape) * noise - (1 - alpha_bar).sqrt().view(shape) * clean
        return velocity, torch.clamp(snr, max=min_snr) / (snr + 1)
    return noise, torch.clamp(snr, max=min_snr) / snr


def stage_unet(minutes: float, batch_size: int = 16, learning_rate: float = 1e-3, ema_decay: float = 0.995,
               empty_caption_share: float = 0.1, min_snr: float = 5.0, posterior_noise: float = 1.0,
               decay: str = "none", warm: Path | None = None, prediction: str | None = None) -> None:
    """Train text encoder and UNet jointly on cached latents: mean + posterior_noise * std * N(0, 1).

    posterior_noise 0 trains on the posterior means alone: a cleaner target than samples, which the
    decoder (trained on noisy samples) still decodes exactly. decay "cosine" lowers the rate over this
    phase's minutes to 5 % of it; `warm` starts a new run (no checkpoint yet) from another run's weights.
    prediction "eps" or "v" chooses what the UNet outputs (default: the checkpoint's, else "eps").
    """
    from diffusers import AutoencoderKL

    if decay not in ("none", "cosine"):
        raise SystemExit(f"unet: decay must be none or cosine, not {decay!r}")
    if prediction not in (None, *PREDICTION_TYPES):
        raise SystemExit(f"unet: prediction must be one of {', '.join(PREDICTION_TYPES)}, not {prediction!r}")
    _, captions = load_data()
    latents = torch.load(WORK / "latents.pt", weights_only=True)
    latent_mean, latent_std = latents["mean"].float(), latents["std"].float()
    captions = captions[: len(latent_mean)]
    scaling_factor = AutoencoderKL.load_config(WORK / "vae")["scaling_factor"]
    if not (WORK / "tokenizer").exists():
        build_tokenizer_files(WORK / "tokenizer")
    tokenizer = load_tokenizer(WORK / "tokenizer")
    caption_ids = tokenize(tokenizer, captions)
    empty_ids = tokenize(tokenizer, [""])[0]
    torch.manual_seed(2)
    np.random.seed(2)
    text_encoder, unet = make_text_encoder(tokenizer), make_unet()
    modules = torch.nn.ModuleDict({"text_encoder": text_encoder, "unet": unet})
    ema = {name: value.detach().clone() for name, value in modules.state_dict().items()}
    optimiser = torch.optim.AdamW(modules.parameters(), lr=learning_rate, weight_decay=1e-2)
    checkpoint_path = WORK / "unet.ckpt"
    step, spent, earlier = 0, 0.0, None
    state = load_checkpoint(checkpoint_path)
    if state:
        modules.load_state_dict(state["model"])
        ema = state["ema"]
        optimiser.load_state_dict(state["optimiser"])
        step, spent = int(state["step"]), float(state["seconds"])
        restore_rng(state["rng"])
        log.info("unet: resumed at step %d (%.0fs trained)", step, spent)
        prediction = prediction or state.get("prediction", "eps")
        earlier = state.get("warm_start")
    elif warm is not None:
        earlier = warm_start(modules, warm)
        ema = {name: value.detach().clone() for name, value in modules.state_dict().items()}
    prediction = prediction or "eps"
    log.info("unet: lr %g (%s), posterior noise %g, batch %d, ema %g, predicts %s", learning_rate, decay,
             posterior_noise, batch_size, ema_decay, PREDICTION_TYPES[prediction])
    log.info("unet: text encoder %d, unet %d parameters", sum(p.numel() for p in text_encoder.parameters()),
             sum(p.numel() for p in unet.parameters()))
    scheduler = make_scheduler(prediction)
    alphas_cumprod = scheduler.alphas_cumprod
    modules.train()

    def checkpoint() -> None:
        save_checkpoint(checkpoint_path, model=modules.state_dict(), ema=ema, optimiser=optimiser.state_dict(),
                        step=step, seconds=spent + time.time() - started, rng=rng_state(), prediction=prediction,
                        warm_start=earlier)

    started, last_save, recent, phase_step = time.time(), time.time(), [], 0
    while time.time() - started < minutes * 60:
        phase_step += 1  # each phase warms up again: a resumed run may start at a new rate
        scale = learning_rate_scale((time.time() - started) / (minutes * 60), phase_step, decay)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate * scale
        index = torch.randint(0, len(captions), (batch_size,))
        jitter = posterior_noise * latent_std[index] * torch.randn_like(latent_mean[index])
        clean = (latent_mean[index] + jitter) * scaling_factor
        ids = caption_ids[index].clone()
        ids[torch.rand(batch_size) < empty_caption_share] = empty_ids  # unconditional examples, for CFG
        noise = torch.randn_like(clean)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,))
        noisy = scheduler.add_noise(clean, noise, timesteps)
        predicted = unet(noisy, timesteps, text_encoder(ids)[0]).sample
        target, weight = loss_target_and_weight(prediction, clean, noise, timesteps, alphas_cumprod, min_snr)
        loss = (weight * ((predicted - target) ** 2).mean(dim=(1, 2, 3))).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        optimiser.step()
        step += 1
        # Its own name: this loop also reads `decay`, the learning-rate schedule (reusing the name once
        # switched the cosine schedule off after the first step).
        ema_rate = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, value in modules.state_dict().items():
                if value.dtype.is_floating_point:
                    ema[name].mul_(ema_rate).add_(value, alpha=1 - ema_rate)
                else:
                    ema[name].copy_(value)
        recent.append(loss.item())
        if step % 10 == 0:
            log.info("unet step %d  %.0fs  lr %.2e  loss(avg10) %.4f", step, spent + time.time() - started,
                     optimiser.param_groups[0]["lr"], np.mean(recent[-10:]))
        if time.time() - last_save > CHECKPOINT_SECONDS:
            checkpoint()
            last_save = time.time()
    checkpoint()
    log.info("unet: %d steps, %.0fs trained in all", step, spent + time.time() - started)


# ------------------------------------------------------------------ stage: export
# img2img encodes with a posterior *sample*, but the UNet learned posterior *means*; at std 0.4-0.5 (against
# a latent std of ~1.5) the sample's noise was itself enough to repaint colours at low strength. Shrinking the
# exported encoder's std makes a sample equal its mean to within 1/40 of that noise; means, the decoder and
# everything the UNet saw are untouched.
POSTERIOR_STD_DIVISOR = 40.0


@torch.no_grad()
def narrow_posterior(vae) -> None:
    """Divide the encoder's posterior std by POSTERIOR_STD_DIVISOR (logvar lives in quant_conv's second half)."""
    vae.quant_conv.bias[LATENT_CHANNELS:] -= 2 * math.log(POSTERIOR_STD_DIVISOR)


def stage_export(out: Path, recommended_cfg: float) -> None:
    """Write the fp16 diffusers folder from the VAE and the EMA weights of the latest UNet checkpoint."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline

    tokenizer = load_tokenizer(WORK / "tokenizer")
    text_encoder, unet = make_text_encoder(tokenizer), make_unet()
    modules = torch.nn.ModuleDict({"text_encoder": text_encoder, "unet": unet})
    state = load_checkpoint(WORK / "unet.ckpt")
    modules.load_state_dict(state["ema"])
    vae = AutoencoderKL.from_pretrained(WORK / "vae")
    narrow_posterior(vae)
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        unet=unet, scheduler=make_scheduler(state.get("prediction", "eps")), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    if out.exists():
        shutil.rmtree(out)
    pipeline.to(torch.float16).save_pretrained(out, safe_serialization=True)
    # The weights are fp16 to keep the wheel small, but a plain from_pretrained must still give one dtype
    # for all parts: record float32 as the text encoder's dtype (transformers would otherwise load fp16
    # beside diffusers' fp32 UNet: "mat1 and mat2 must have the same dtype").
    config_path = out / "text_encoder" / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    config.pop("torch_dtype", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    # Keep the plain CLIP files beside tokenizer.json, so transformers 4.x (slow tokenizer) loads it too.
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(WORK / "tokenizer" / name, out / "tokenizer" / name)
    (out / "training.json").write_text(json.dumps(
        {"unet_steps": int(state["step"]), "unet_seconds": round(float(state["seconds"])),
         "prediction": state.get("prediction", "eps"), "warm_start": state.get("warm_start"),
         "posterior_std_divisor": POSTERIOR_STD_DIVISOR,
         "vae": json.loads((WORK / "vae_report.json").read_text())}, indent=2) + "\n")
    # The guidance scale the evaluation found best; sdkit applies it unless a preset or flag sets one.
    (out / "sdkit.json").write_text(json.dumps({"recommended": {"cfg_scale": recommended_cfg}}, indent=2) + "\n")
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    log.info("export: %s, %.1f MB, unet step %d", out, size / 1e6, int(state["step"]))


# ------------------------------------------------------------------ main
def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(int(os.environ.get("SDKIT_DEMO_THREADS", "1")))
    stage = argv[0] if argv else ""
    if stage == "data":
        stage_data()
    elif stage == "vae":
        options = dict(item.split("=", 1) for item in argv[2:])
        stage_vae(float(argv[1]), learning_rate=float(options.get("lr", 1.5e-3)),
                  code_weight=float(options.get("codes", 0.0)))
    elif stage == "latents":
        stage_latents()
    elif stage == "unet":
        # Optional settings for a later phase resumed from the latest checkpoint, e.g. `lr=2e-4 noise=0`.
        options = dict(item.split("=", 1) for item in argv[2:])
        stage_unet(float(argv[1]), learning_rate=float(options.get("lr", 1e-3)),
                   posterior_noise=float(options.get("noise", 1.0)), ema_decay=float(options.get("ema", 0.995)),
                   decay=options.get("decay", "none"), warm=Path(options["warm"]) if "warm" in options else None,
                   prediction=options.get("predict"))
    elif stage == "export":
        folders = [item for item in argv[1:] if "=" not in item]
        options = dict(item.split("=", 1) for item in argv[1:] if "=" in item)
        stage_export(Path(folders[0]) if folders else DEMO_MODEL_DIR, float(options.get("cfg", 7.0)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
