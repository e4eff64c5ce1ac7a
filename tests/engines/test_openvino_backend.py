"""The OpenVINO backend on a tiny SD 1.x model: the same images as torch, a reused and invalidated IR cache.

One IR cache for the module (converting even a tiny UNet takes seconds), and a private copy of the
tiny model, so that changing its weights file touches no other test.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from cli_helpers import run_sdkit

from sdkit.bench.quality import psnr
from sdkit.engines.openvino import convert
from sdkit.run.events import NullEvents
from sdkit.run.execute import load_model, load_options, run_images
from sdkit.run.plan import make_plan

PSNR_FLOOR_DB = 40.0  # the bar for "differs by fp32 rounding only"


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("openvino-home")


@pytest.fixture(scope="module")
def tiny_model(tiny_pipeline_dir, tmp_path_factory):
    copy = tmp_path_factory.mktemp("openvino-model") / "tiny-sd1"
    shutil.copytree(tiny_pipeline_dir("sd1"), copy)
    return copy


@pytest.fixture
def shared_home(sdkit_home, module_home, monkeypatch):
    """This module's SDKIT_HOME (and so its IR cache) instead of the per-test one."""
    monkeypatch.setenv("SDKIT_HOME", str(module_home))
    return module_home


def _plan(model, backend, sampler="euler_a", schedule="automatic", **flags):
    task = flags.pop("task", "txt2img")
    values = {"prompt": "a red circle", "negative_prompt": "blurry", "steps": 3, "width": 64, "height": 64,
              "seed": 7, "sampler": sampler, "schedule": schedule, "backend": backend, **flags}
    return make_plan(task=task, model=str(model), flags=values)


def _images(plan, loaded):
    return [result.image for result in run_images(plan, NullEvents(), loaded=loaded)]


@pytest.fixture
def loaded_pair(shared_home, tiny_model):
    """The tiny model loaded on both backends (the first use in this module converts it)."""
    return load_model(_plan(tiny_model, "openvino")), load_model(_plan(tiny_model, "torch"))


# Diffusers' schedulers, sdkit's ComfyUI sampling (ComfyUI names) and its A1111 sampling (A1111 names),
# ancestral and not.
SAMPLERS = [("diffusers:euler_a", "automatic"), ("dpmpp_2m", "karras"), ("Euler a", "automatic"),
            ("DPM++ 2M", "karras"), ("DPM++ SDE", "automatic")]


def test_images_equal_the_torch_backend_for_diffusers_and_a1111_samplers(loaded_pair, tiny_model):
    on_openvino, on_torch = loaded_pair
    assert on_openvino.backend.name == "openvino" and on_torch.backend.name == "torch"
    unet_part = on_openvino.backend.parts["unet"]
    for sampler, schedule in SAMPLERS:
        calls_before = unet_part.calls
        plan = _plan(tiny_model, "openvino", sampler, schedule, batch_size=2)
        openvino_images, torch_images = _images(plan, on_openvino), _images(plan, on_torch)
        assert unet_part.calls > calls_before, f"{sampler}: the UNet never ran on OpenVINO"
        assert len(openvino_images) == 2
        quality = psnr(torch_images, openvino_images)
        assert quality >= PSNR_FLOOR_DB, f"{sampler} {schedule}: {quality:.1f} dB against torch"
    assert on_openvino.backend.parts["vae-decoder"].calls > 0


def test_img2img_runs_the_encoder_on_openvino_too(loaded_pair, tiny_model, tmp_path):
    from PIL import Image

    on_openvino, on_torch = loaded_pair
    source = tmp_path / "input.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    plan = _plan(tiny_model, "openvino", "Euler", "automatic", task="img2img", image=str(source), strength=0.6)
    openvino_images = _images(plan, on_openvino)
    assert on_openvino.backend.parts["vae-encoder"].calls > 0
    assert psnr(_images(plan, on_torch), openvino_images) >= PSNR_FLOOR_DB


def test_a_second_load_reuses_the_cached_ir(loaded_pair, tiny_model):
    plan = _plan(tiny_model, "openvino")
    before = convert.conversions
    again = plan.engine.load(plan.model_ref, load_options(plan.params, plan.vae))  # a new process would do this
    assert convert.conversions == before
    assert again.backend.name == "openvino"
    assert _images(plan, again)[0].tobytes() == _images(plan, loaded_pair[0])[0].tobytes()


def test_a_changed_weights_file_converts_that_part_again(shared_home, tiny_pipeline_dir, tmp_path, caplog):
    from safetensors.torch import load_file, save_file

    model = tmp_path / "changed"
    shutil.copytree(tiny_pipeline_dir("sd1"), model)
    plan = _plan(model, "openvino")
    first = plan.engine.load(plan.model_ref, load_options(plan.params, plan.vae))
    before_image = _images(plan, first)[0]
    weights_file = model / "unet" / "diffusion_pytorch_model.safetensors"
    weights = load_file(weights_file)
    weights["conv_out.bias"] = weights["conv_out.bias"] + 0.5
    save_file(weights, weights_file)
    before = convert.conversions
    with caplog.at_level("WARNING", logger="sdkit.engines.openvino"):
        second = plan.engine.load(plan.model_ref, load_options(plan.params, plan.vae))
    assert convert.conversions == before + 1  # the UNet again; the VAE's files did not change
    said = [record.getMessage() for record in caplog.records if record.name.startswith("sdkit.engines.openvino")]
    assert any(message.startswith("converting the UNet") and "about" in message for message in said), said
    assert not any(message.startswith("converting the VAE") for message in said), said
    assert _images(plan, second)[0].tobytes() != before_image.tobytes()


def test_cli_generate_records_the_backend_in_the_infotext(loaded_pair, tiny_model, capsys, tmp_path):
    from PIL import Image

    result = run_sdkit(capsys, "generate", "a red circle", "--model", tiny_model, "--backend", "openvino",
                       "--steps", "2", "--width", "64", "--height", "64", "--seed", "3",
                       "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "converting" not in result.stderr  # converted by this module's first load
    (png,) = (tmp_path / "out").glob("*.png")
    assert "Backend: OpenVINO" in Image.open(png).info["parameters"]


def test_missing_openvino_says_how_to_install_it(shared_home, tiny_model, capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` meets when it is not installed
    result = run_sdkit(capsys, "generate", "x", "--model", tiny_model, "--backend", "openvino", "--steps", "1",
                       "--width", "64", "--height", "64", "--vae-tiling", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "pip install 'sdkit-cli[openvino]'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.png"))


def test_auto_uses_openvino_for_a_small_model_only_once_it_is_converted(loaded_pair, tiny_model, tmp_path):
    assert load_model(_plan(tiny_model, "auto")).backend.name == "openvino"  # converted by `loaded_pair`
    unconverted = tmp_path / "unconverted"
    shutil.copytree(tiny_model, unconverted)
    config = unconverted / "unet" / "config.json"
    config.write_text(config.read_text().replace('"sample_size": 8', '"sample_size": 16'))  # another IR key
    before = convert.conversions
    assert load_model(_plan(unconverted, "auto")).backend.name == "torch"
    assert convert.conversions == before  # auto never converts a small model itself


@pytest.mark.parametrize("command", [["generate", "x", "--dry-run"], ["benchmark", "--no-baseline"]])
def test_an_unknown_backend_is_refused(capsys, command):
    result = run_sdkit(capsys, *command, "--backend", "tensorrt")
    assert result.exit_code == 2, result.output
    assert "tensorrt" in result.output and "openvino" in result.output
    assert "Traceback" not in result.output


def test_openvino_refuses_a_gpu_or_half_precision(capsys):
    result = run_sdkit(capsys, "generate", "x", "--backend", "openvino", "--dtype", "fp16", "--steps", "1")
    assert result.exit_code == 2, result.output
    assert "fp32" in result.output


def test_openvino_sends_no_telemetry_and_writes_nothing_into_home(tmp_path):
    """OpenVINO's importer and converter report usage and write ~/intel unless openvino_telemetry is kept out."""
    import subprocess

    home = tmp_path / "home"
    home.mkdir()
    script = ("import sys, torch\n"
              "from sdkit.engines.openvino.backends import import_openvino\n"
              "openvino = import_openvino()\n"
              "model = openvino.convert_model(torch.nn.Linear(2, 2), example_input=torch.zeros(1, 2))\n"
              "openvino.compile_model(model, 'CPU')\n"
              "assert sys.modules['openvino_telemetry'] is None\n")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "HOME": str(home)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(home.iterdir()) == []
