"""The OpenVINO backend beyond SD 1.x txt2img: SD 2.x (v-prediction), SDXL (two text encoders, pooled
embedding and size ids as extra UNet inputs) and a 9-channel inpainting UNet, each against the torch
backend on a tiny model of that shape, with the UNet checked to have run on OpenVINO.
"""

from __future__ import annotations

import pytest
from PIL import Image

from sdkit.bench.quality import psnr
from sdkit.run.events import NullEvents
from sdkit.run.execute import load_model, run_images
from sdkit.run.plan import make_plan

PSNR_FLOOR_DB = 40.0  # the bar for "differs by fp32 rounding only"


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("openvino-families-home")


@pytest.fixture
def shared_home(sdkit_home, module_home, monkeypatch):
    """One IR cache for the module: each model converts once."""
    monkeypatch.setenv("SDKIT_HOME", str(module_home))
    return module_home


def _plan(model, backend, **flags):
    values = {"prompt": "a red circle", "negative_prompt": "blurry", "steps": 3, "width": 64, "height": 64,
              "seed": 5, "sampler": "Euler a", "backend": backend, **flags}
    return make_plan(task=values.pop("task", "txt2img"), model=str(model), flags=values)


def _images_on_both(model, **flags):
    """(openvino images, torch images, UNet calls on OpenVINO) for one job."""
    on_openvino = load_model(_plan(model, "openvino", **flags))
    on_torch = load_model(_plan(model, "torch", **flags))
    assert on_openvino.backend.name == "openvino"
    unet = on_openvino.backend.parts["unet"]
    before = unet.calls
    images = [result.image for result in
              run_images(_plan(model, "openvino", **flags), NullEvents(), loaded=on_openvino)]
    calls = unet.calls - before
    reference = [result.image for result in
                 run_images(_plan(model, "torch", **flags), NullEvents(), loaded=on_torch)]
    return images, reference, calls


@pytest.mark.parametrize("family,prediction_type,sampler", [
    ("sd2", "v_prediction", "Euler a"),
    ("sd2", "v_prediction", "diffusers:euler_a"),  # diffusers' scheduler on the same stand-in
    ("sdxl", "epsilon", "DPM++ 2M"),
    ("sdxl", "epsilon", "dpmpp_2m"),  # ComfyUI's computation
])
def test_sd2_and_sdxl_images_equal_the_torch_backend(shared_home, tiny_pipeline_dir, family, prediction_type,
                                                     sampler):
    model = tiny_pipeline_dir(family, prediction_type=prediction_type)
    images, reference, calls = _images_on_both(model, sampler=sampler)
    assert calls > 0, "the UNet never ran on OpenVINO"
    quality = psnr(reference, images)
    assert quality >= PSNR_FLOOR_DB, f"{family} {sampler}: {quality:.1f} dB against torch"


@pytest.mark.parametrize("sampler", ["Euler a", "euler_a"])  # A1111's and ComfyUI's computation
def test_inpainting_unet_images_equal_the_torch_backend(shared_home, tiny_pipeline_dir, tmp_path, sampler):
    model = tiny_pipeline_dir("sd1", inpainting=True)
    image, mask = tmp_path / "image.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (40, 90, 200)).save(image)
    mask_picture = Image.new("L", (64, 64), 0)
    mask_picture.paste(255, (16, 16, 48, 48))
    mask_picture.save(mask)
    images, reference, calls = _images_on_both(model, task="inpaint", image=str(image), mask=str(mask),
                                               sampler=sampler, strength=1.0)
    assert calls > 0, "the 9-channel UNet never ran on OpenVINO"
    quality = psnr(reference, images)
    assert quality >= PSNR_FLOOR_DB, f"inpaint {sampler}: {quality:.1f} dB against torch"
