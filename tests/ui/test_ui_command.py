"""`sdkit ui` without a browser: the refusals that come before anything starts, the missing extra, the
light imports, and the form's translation into `generate`'s arguments."""

from __future__ import annotations

import subprocess
import sys

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
