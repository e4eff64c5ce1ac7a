"""`sdkit ui` without a browser: the refusals that come before anything starts, the missing extra, the
light imports, the form's translation into `generate`'s arguments, and the inpaint and upscale tabs'
paths (editor -> mask, upscaler field -> model) through the service, equal to the CLI's images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_sdkit, run_sdkit_process

from sdkit.core.errors import UserInputError
from sdkit.ui.form import FIELD_KEYS, blank_form, form_request


def test_a_host_other_than_loopback_needs_auth(capsys):
    result = run_sdkit(capsys, "ui", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "--host 0.0.0.0 would let other machines use the UI without a password" in result.stderr
    assert "hint: add --auth USER:PASS" in result.stderr


def test_a_malformed_auth_is_refused_without_repeating_it(capsys):
    result = run_sdkit(capsys, "ui", "--auth", "secret-without-colon")
    assert result.exit_code == 2
    assert "--auth is not USER:PASS" in result.stderr
    assert "secret-without-colon" not in result.output


def test_without_gradio_the_message_says_which_extra_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now fails as when it is not installed
    result = run_sdkit(capsys, "ui", "--port", "0")
    assert result.exit_code == 2
    assert "the web UI needs Gradio, which is not installed" in result.stderr
    assert "pip install 'sdkit-cli[ui]'" in result.stderr


def test_help_and_the_package_import_neither_gradio_nor_torch():
    helped = run_sdkit_process("ui", "--help")
    assert helped.exit_code == 0 and "--auth" in helped.stdout and "--models-dir" in helped.stdout
    check = ("import sys, sdkit.ui, sdkit.cli.ui, sdkit.ui.form, sdkit.ui.presets_panel, sdkit.ui.pnginfo;"
             "heavy = [name for name in ('gradio', 'torch', 'diffusers') if name in sys.modules];"
             "print(heavy); sys.exit(1 if heavy else 0)")
    light = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert light.returncode == 0, light.stdout + light.stderr


def form(**values: str) -> list:
    filled = blank_form()
    for key, value in values.items():
        filled[FIELD_KEYS.index(key)] = value
    return filled


def test_the_form_becomes_generate_flags_blank_fields_and_other_tasks_fields_left_out():
    request = form_request("txt2img", form(prompt="a fox", steps="12", cfg_scale="6.5", strength="0.4", seed=""),
                           preset_name="txt2img/basic")
    assert request == {"preset": "txt2img/basic", "task": "txt2img", "model": None,
                       "flags": {"prompt": "a fox", "steps": 12, "cfg_scale": 6.5}}
    # A preset of another task does not take part (as `--task img2img --preset txt2img/...` would fail).
    other = form_request("img2img", form(strength="0.4"), preset_name="txt2img/basic")
    assert other["preset"] is None and other["flags"] == {"strength": 0.4}
    upscale = form_request("upscale", form(model="some-sd-model", scale="2"), upscaler="x4.safetensors")
    assert upscale["model"] == "x4.safetensors" and upscale["flags"] == {"scale": 2.0}


def test_a_number_field_that_is_no_number_names_the_field():
    with pytest.raises(UserInputError) as raised:
        form_request("txt2img", form(steps="twenty"))
    assert raised.value.message == "Sampling steps: 'twenty' is not a number"
    assert raised.value.hint == "type a number, or leave the field blank for the default"


def test_the_inpaint_editor_becomes_the_image_and_a_mask_white_where_painted():
    import io

    from PIL import Image

    from sdkit.ui.generation import editor_inputs

    background = Image.new("RGBA", (64, 48), (10, 20, 30, 255))
    strokes = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    strokes.paste((255, 0, 0, 128), (8, 8, 24, 16))  # a half-transparent brush stroke
    inputs = editor_inputs({"background": background, "layers": [strokes], "composite": background})
    image = Image.open(io.BytesIO(inputs["image"]))
    mask = Image.open(io.BytesIO(inputs["mask"]))
    assert image.mode == "RGB" and image.size == (64, 48) and image.getpixel((0, 0)) == (10, 20, 30)
    assert mask.mode == "L" and mask.size == (64, 48)
    assert mask.getpixel((8, 8)) == 255 and mask.getpixel((23, 15)) == 255
    assert mask.getpixel((7, 8)) == 0 and mask.getpixel((24, 16)) == 0
    assert editor_inputs(None) == {} and editor_inputs({"background": None, "layers": []}) == {}


def test_an_inpaint_from_the_editor_runs_on_the_service_and_equals_the_cli_image(tmp_path, capsys):
    """The inpaint tab's path without a browser: the editor's value, the form, a job of the service."""
    import io
    import json

    import numpy as np
    from PIL import Image

    from sdkit.service import Service
    from sdkit.ui.generation import editor_inputs, follow_job, submit_form

    background = Image.new("RGBA", (64, 64), (30, 30, 220, 255))
    strokes = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    strokes.paste((255, 255, 255, 255), (16, 16, 48, 48))
    inputs = editor_inputs({"background": background, "layers": [strokes]})
    service = Service(tmp_path / "ui-outputs").start()
    try:
        job_id = submit_form(service, "inpaint", form(prompt="a red circle", steps="2", seed="3", strength="0.9"),
                             input_images=inputs)
        *_, view = follow_job(service, job_id, poll_seconds=0.05)
    finally:
        service.close()
    assert view.state.value == "done", (view.error, view.hint)
    [made] = view.images
    for name in ("image", "mask"):
        (tmp_path / f"{name}.png").write_bytes(inputs[name])
    cli = run_sdkit(capsys, "generate", "a red circle", "--image", str(tmp_path / "image.png"), "--mask",
                    str(tmp_path / "mask.png"), "--steps", "2", "--seed", "3", "--strength", "0.9",
                    "--output-dir", str(tmp_path / "cli"), "--json")
    assert cli.exit_code == 0, cli.output
    cli_path = json.loads(cli.stdout)["images"][0]["path"]
    with Image.open(io.BytesIO(made.png)) as ui_image, Image.open(cli_path) as cli_image:
        assert ui_image.info["parameters"] == cli_image.info["parameters"] == made.infotext
        assert np.array_equal(np.asarray(ui_image), np.asarray(cli_image))


def test_an_upscale_from_the_upscale_tab_runs_on_the_service_and_equals_the_cli_image(tmp_path, capsys, monkeypatch):
    """The upscale tab's path without a browser: its upscaler field is the model, the Model field is not."""
    import io
    import json

    import numpy as np
    from PIL import Image

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "upscale"))  # the upscale tests' weights
    from upscale_weights import write_safetensors

    from sdkit.service import Service
    from sdkit.ui.generation import follow_job, submit_form

    upscaler = write_safetensors(tmp_path / "tiny_x4.safetensors", blocks=1)
    source = tmp_path / "small.png"
    Image.new("RGB", (12, 8), (200, 120, 40)).save(source)
    service = Service(tmp_path / "ui-outputs").start()
    try:
        job_id = submit_form(service, "upscale", form(model="not-an-upscaler", prompt="ignored"),
                             upscaler=str(upscaler), image_path=str(source))
        *_, view = follow_job(service, job_id, poll_seconds=0.05)
    finally:
        service.close()
    assert view.state.value == "done", (view.error, view.hint)
    cli = run_sdkit(capsys, "generate", "--task", "upscale", "--model", str(upscaler), "--image", str(source),
                    "--output-dir", str(tmp_path / "cli"), "--json")
    assert cli.exit_code == 0, cli.output
    with Image.open(io.BytesIO(view.images[0].png)) as ui_image, \
            Image.open(json.loads(cli.stdout)["images"][0]["path"]) as cli_image:
        assert ui_image.size == (48, 32)
        assert ui_image.info["parameters"] == cli_image.info["parameters"]
        assert np.array_equal(np.asarray(ui_image), np.asarray(cli_image))
