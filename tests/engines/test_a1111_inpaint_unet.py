"""A1111's inpaint on a 9-channel inpainting UNet: its sampling with the mask blend, against k-diffusion.

A1111 v1.10 sets the latent mask whatever the model (processing.py's img2img `init`), so with an
inpainting UNet too its CFG denoiser holds the denoised estimate to the init latent outside the mask at
every model call (k-diffusion samplers blend after the model; the timestep samplers blend its input) and
`sample` blends the result once more; the UNet also gets mask and masked-image latents after its input
(`c_concat`, for cond and uncond alike). The reference is assembled here from k-diffusion's
`CompVisDenoiser` and `sample_euler` with those rules, on the engine's own prepared inputs
(`a1111.inpaint_inputs`: init latents, latent mask, the 9-channel extras), and must match the PNG of
`sdkit generate --task inpaint` on a tiny random-weight SD 1.x inpainting model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_sdkit
from PIL import Image

from sdkit.engines.sd import a1111
from sdkit.sampling.sigmas import SigmaTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sampling"))
from kdiffusion_reference import (  # noqa: E402
    A1111CFG,
    A1111ImageNoise,
    CompVisUNet,
    decode_a1111,
    load_k_diffusion,
)

KD_SAMPLING, KD_EXTERNAL = load_k_diffusion()
PROMPT, STEPS, STRENGTH, SEED, CFG, SIZE = "a red fox", 4, 0.5, 2, 4.0, 64


@pytest.fixture(scope="module")
def inpaint_model(tiny_pipeline_dir, tmp_path_factory):
    from diffusers import StableDiffusionInpaintPipeline

    folder = tiny_pipeline_dir("sd1", inpainting=True)
    pipeline = StableDiffusionInpaintPipeline.from_pretrained(folder, local_files_only=True, safety_checker=None,
                                                              requires_safety_checker=False)
    assert int(pipeline.unet.config.in_channels) == 9
    files = tmp_path_factory.mktemp("inpaint_inputs")
    init = Image.new("RGB", (SIZE, SIZE), (200, 40, 40))
    init.paste((30, 30, 220), (16, 16, 48, 48))
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (24, 24, 64, 64))
    init.save(files / "init.png")
    mask.save(files / "mask.png")
    return folder, pipeline, files, init, mask


class ConcatUNet(CompVisUNet):
    """The UNet with the 9-channel extras after its input, for every half of the CFG batch."""

    def __init__(self, unet, alphas_cumprod, extras):
        super().__init__(unet, alphas_cumprod)
        self.extras = extras

    def apply_model(self, x, t, cond):
        extras = self.extras.repeat(x.shape[0] // self.extras.shape[0], 1, 1, 1)
        return super().apply_model(torch.cat([x, extras], dim=1), t, cond)


def a1111_inpaint_reference(pipeline, init, mask_image):
    with torch.inference_mode():
        init_latents, mask, extras = a1111.inpaint_inputs(pipeline, init, mask_image, 1, (SIZE, SIZE))
        table = SigmaTable.from_scheduler_config(pipeline.scheduler.config)
        wrapped = KD_EXTERNAL.CompVisDenoiser(ConcatUNet(pipeline.unet, table.alphas_cumprod, extras))
        cond, uncond = pipeline.encode_prompt(PROMPT, "cpu", 1, True, "")
        guided = A1111CFG(wrapped, cond, uncond, CFG)

        def blended(x, sigma):  # A1111's apply_blend after the denoiser: denoised·nmask + init·mask
            return guided(x, sigma) * mask + init_latents * (1 - mask)

        encoded = int(min(STRENGTH, 0.999) * STEPS)
        sigmas = wrapped.get_sigmas(STEPS)[STEPS - encoded - 1:]
        noise = A1111ImageNoise([SEED], init_latents.shape[1:]).first()
        latents = KD_SAMPLING.sample_euler(blended, init_latents + noise * sigmas[0], sigmas, disable=True)
        latents = latents * mask + init_latents * (1 - mask)
    return decode_a1111(pipeline.vae, latents)[0], extras


def test_inpainting_unet_png_is_a1111s_blended_image(capsys, tmp_path, inpaint_model):
    folder, pipeline, files, init, mask = inpaint_model
    result = run_sdkit(capsys, "generate", "--model", str(folder), "--task", "inpaint", "--image",
                       str(files / "init.png"), "--mask", str(files / "mask.png"), "--mask-blur", "0",
                       "--prompt", PROMPT, "-W", str(SIZE), "-H", str(SIZE), "--sampler", "Euler", "--steps",
                       str(STEPS), "--strength", str(STRENGTH), "--seed", str(SEED), "--cfg-scale", str(CFG),
                       "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    [image] = [np.asarray(Image.open(item["path"]).convert("RGB")) for item in json.loads(result.stdout)["images"]]
    expected, extras = a1111_inpaint_reference(pipeline, init, mask)
    assert extras is not None  # the 9-channel path
    difference = int(np.abs(image.astype(int) - expected.astype(int)).max())
    print(f"9-channel inpaint, Euler: max difference {difference} of 255")
    assert difference <= 2
