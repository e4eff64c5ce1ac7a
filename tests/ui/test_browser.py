"""The web UI in a real browser against a real `sdkit ui` process: presets, notifications, generation,
PNG info, and the last preset restored after a restart (as `sdkit serve --ui`, the API beside it).

One UI process for the module; screenshots of each step go to the test's temporary folder.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import numpy as np
from cli_helpers import run_sdkit
from PIL import Image
from ui_browser import choose, close_toasts, field, require_browser, screenshot, toast

require_browser()  # skips this module without chromium or Playwright (fails under CI), before importing them
from playwright.sync_api import expect  # noqa: E402

BASIC = "txt2img/basic"
BROKEN_PRESET = """schema_version: 1
task: txt2img
params:
  steps: 4
  stepz: 3
"""
OLD_PRESET = """schema_version: 0
task: txt2img
steps: 5
cfg: 4
"""
A1111_INFOTEXT = ("a green triangle on a purple background\nNegative prompt: blurry\n"
                  "Steps: 12, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 99, Size: 64x64, "
                  "Model: sdkit-shapes, Version: v1.10.1")


def open_ui(page, ui) -> None:
    """Open the UI and wait until its page load has listed the presets and restored the last one."""
    page.goto(ui.url)
    expect(page.locator("#sdkit-preset-table")).to_contain_text(BASIC)
    expect(page.locator("#sdkit-preset-applied")).to_contain_text(re.compile(r"No preset applied|Applied preset"))


def remembered(ui) -> str | None:
    state = json.loads(ui.state_file.read_text()) if ui.state_file.exists() else {}
    return (state.get("last_preset") or {}).get("name")


def test_the_preset_browser_filters_shows_yaml_and_diff_and_apply_fills_the_form(page, ui, tmp_path):
    open_ui(page, ui)
    choose(page, "sdkit-filter-task", "img2img")
    expect(page.locator("#sdkit-preset-table")).to_contain_text("img2img/restore")
    expect(page.locator("#sdkit-preset-table")).not_to_contain_text(BASIC)
    choose(page, "sdkit-filter-task", "all")
    expect(page.locator("#sdkit-preset-table")).to_contain_text(BASIC)

    field(page, "steps").fill("9")
    choose(page, "sdkit-preset-name", BASIC)
    expect(page.locator("#sdkit-preset-yaml")).to_contain_text("steps: 20")
    diff = page.locator("#sdkit-preset-diff")
    expect(diff).to_contain_text(re.compile(r"Sampling steps\s+9\s+20"))  # field, the form now, after Apply
    screenshot(page, tmp_path, "preset-browser")

    page.click("#sdkit-preset-apply")
    expect(field(page, "prompt")).to_have_value("a red circle on a blue background")
    expect(field(page, "steps")).to_have_value("20")
    expect(field(page, "seed")).to_have_value("-1")
    expect(page.locator("#sdkit-preset-applied")).to_contain_text(BASIC)
    assert remembered(ui) == BASIC  # in the state folder, where `generate --preset` remembers it too


def test_a_broken_user_preset_notifies_with_the_cli_message_and_hint_and_leaves_the_form(page, ui, tmp_path):
    folder = ui.user_presets / "txt2img"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.yaml").write_text(BROKEN_PRESET)
    (folder / "old.yaml").write_text(OLD_PRESET)
    open_ui(page, ui)
    close_toasts(page)
    expect(page.locator("#sdkit-preset-table")).to_contain_text("txt2img/broken")
    choose(page, "sdkit-filter-source", "user")
    expect(page.locator("#sdkit-preset-table")).not_to_contain_text(BASIC)
    field(page, "steps").fill("7")

    choose(page, "sdkit-preset-name", "txt2img/broken")
    page.click("#sdkit-preset-apply")
    error = toast(page, "stepz")
    expect(error).to_contain_text(f"invalid preset {folder / 'broken.yaml'}")
    expect(error).to_contain_text("broken.yaml:5: params.stepz: unknown parameter; did you mean 'steps'")
    expect(error).to_contain_text("hint: fix the lines above; `sdkit presets schema` lists every field")
    screenshot(page, tmp_path, "notification")
    expect(field(page, "steps")).to_have_value("7")  # unchanged
    close_toasts(page)

    choose(page, "sdkit-preset-name", "txt2img/old")
    page.click("#sdkit-preset-apply")
    expect(toast(page, "migrated")).to_contain_text("uses schema_version 0; sdkit migrated it to version 1")
    expect(field(page, "steps")).to_have_value("5")
    expect(field(page, "cfg_scale")).to_have_value("4.0")


def test_form_values_the_run_layer_refuses_are_notified_before_any_job(page, ui, tmp_path):
    open_ui(page, ui)
    close_toasts(page)
    field(page, "width").fill("65")
    field(page, "strength").fill("1.5")  # not a txt2img field: ignored on this tab, as A1111 hides it
    page.click("#sdkit-generate")
    error = toast(page, "width=65")
    expect(error).to_contain_text("width=65: must be a multiple of 8 (try 64)")
    expect(error).to_contain_text("hint: fix the values above")
    expect(page.locator("#sdkit-gallery img")).to_have_count(0)
    assert not ui.outputs.exists() or not any(ui.outputs.rglob("*.png"))


def test_a_generated_image_shows_with_its_infotext_and_equals_the_cli_image(page, ui, tmp_path, capsys):
    open_ui(page, ui)
    choose(page, "sdkit-preset-name", BASIC)
    page.click("#sdkit-preset-apply")
    expect(field(page, "steps")).to_have_value("20")
    field(page, "steps").fill("4")
    field(page, "seed").fill("7")
    page.click("#sdkit-generate")
    expect(page.locator("#sdkit-gallery img").first).to_be_visible(timeout=120_000)
    expect(page.locator("#sdkit-progress")).to_contain_text("done: 1 image(s)")
    expect(field(page, "infotext")).to_have_value(re.compile(r"Steps: 4, .*Seed: 7, Size: 64x64"))
    screenshot(page, tmp_path, "generated")

    [made] = ui.outputs.glob("txt2img/*-7.png")
    cli = run_sdkit(capsys, "generate", "--preset", BASIC, "--steps", "4", "--seed", "7",
                    "--output-dir", str(tmp_path / "cli"), "--json")
    assert cli.exit_code == 0, cli.output
    cli_path = Path(json.loads(cli.stdout)["images"][0]["path"])
    with Image.open(made) as ui_image, Image.open(cli_path) as cli_image:
        assert ui_image.info["parameters"] == cli_image.info["parameters"]
        assert np.array_equal(np.asarray(ui_image), np.asarray(cli_image))
    assert field(page, "infotext").input_value() == ui_image.info["parameters"]


def test_img2img_takes_the_uploaded_image_and_equals_the_cli_image(page, ui, tmp_path, capsys):
    source = tmp_path / "input.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(source)
    open_ui(page, ui)
    page.click("#sdkit-tab-img2img-button")
    page.locator("#sdkit-img2img-image input[type=file]").set_input_files(str(source))
    field(page, "prompt").fill("a blue circle on a white background")
    for key, value in (("steps", "4"), ("seed", "5"), ("strength", "0.5")):
        field(page, key).fill(value)
    page.click("#sdkit-generate")
    expect(page.locator("#sdkit-progress")).to_contain_text("done: 1 image(s)", timeout=120_000)
    expect(field(page, "infotext")).to_have_value(re.compile(r"Denoising strength: 0.5"))
    [made] = ui.outputs.glob("img2img/*-5.png")
    cli = run_sdkit(capsys, "generate", "a blue circle on a white background", "--image", str(source),
                    "--steps", "4", "--seed", "5", "--strength", "0.5", "--output-dir", str(tmp_path / "cli"),
                    "--json")
    assert cli.exit_code == 0, cli.output
    with Image.open(made) as ui_image, Image.open(json.loads(cli.stdout)["images"][0]["path"]) as cli_image:
        assert ui_image.info["parameters"] == cli_image.info["parameters"]
        assert np.array_equal(np.asarray(ui_image), np.asarray(cli_image))


def test_progress_shows_the_step_and_interrupt_stops_the_job(page, ui):
    open_ui(page, ui)
    field(page, "steps").fill("150")
    field(page, "seed").fill("3")
    page.click("#sdkit-generate")
    expect(page.locator("#sdkit-progress")).to_contain_text(re.compile(r"image 1/1, step \d+/150"), timeout=120_000)
    page.click("#sdkit-interrupt")
    expect(page.locator("#sdkit-progress")).to_contain_text("interrupted: stopped by the user")
    assert not list(ui.outputs.glob("txt2img/*-3.png"))


def test_png_info_reads_sdkit_and_a1111_pngs_and_sends_them_to_the_form(page, ui, tmp_path, capsys):
    from sdkit.outputs.infotext import write_png_with_parameters

    made = run_sdkit(capsys, "generate", "a yellow square on a white background", "--steps", "3", "--cfg", "5",
                     "--seed", "11", "--output-dir", str(tmp_path), "--json")
    assert made.exit_code == 0, made.output
    sdkit_png = json.loads(made.stdout)["images"][0]["path"]
    a1111_png = write_png_with_parameters(Image.new("RGB", (64, 64), "purple"), tmp_path / "a1111.png",
                                          A1111_INFOTEXT)
    open_ui(page, ui)
    page.click("#sdkit-tab-pnginfo-button")
    page.locator("#sdkit-png-file input[type=file]").set_input_files(sdkit_png)
    expect(field(page, "png-text")).to_have_value(re.compile("Steps: 3, .*CFG scale: 5, Seed: 11"))
    expect(page.locator("#sdkit-png-fields")).to_contain_text("sdkit-shapes")
    screenshot(page, tmp_path, "png-info")
    page.click("#sdkit-send-txt2img")
    expect(field(page, "prompt")).to_have_value("a yellow square on a white background")
    expect(field(page, "steps")).to_have_value("3")
    expect(field(page, "cfg_scale")).to_have_value("5.0")
    expect(field(page, "seed")).to_have_value("11")

    open_ui(page, ui)  # a fresh page, with an empty PNG box
    page.click("#sdkit-tab-pnginfo-button")
    page.locator("#sdkit-png-file input[type=file]").set_input_files(str(a1111_png))
    expect(field(page, "png-text")).to_have_value(re.compile("Version: v1.10.1"))
    page.click("#sdkit-send-img2img")
    expect(page.locator("#sdkit-img2img-image")).to_be_visible()
    expect(field(page, "prompt")).to_have_value("a green triangle on a purple background")
    expect(field(page, "negative_prompt")).to_have_value("blurry")
    expect(field(page, "steps")).to_have_value("12")
    expect(page.locator("#sdkit-schedule input")).to_have_value("Karras")


def test_the_last_applied_preset_is_restored_when_the_ui_starts_again(page, ui, tmp_path):
    """Last in the module: it restarts the UI, as `sdkit serve --ui`, whose API answers beside it."""
    preset = "img2img/restore"
    open_ui(page, ui)
    choose(page, "sdkit-preset-name", preset)
    page.click("#sdkit-preset-apply")
    expect(field(page, "strength")).to_have_value("0.35")
    page.close()

    ui.stop()
    ui.start("serve", "--ui")
    restarted = page.context.new_page()
    open_ui(restarted, ui)
    expect(restarted.locator("#sdkit-preset-applied")).to_contain_text(f"{preset} (restored from the last session)")
    expect(field(restarted, "strength")).to_have_value("0.35")
    expect(field(restarted, "prompt")).to_have_value("high quality, detailed, sharp focus")
    expect(restarted.locator("#sdkit-img2img-image")).to_be_visible()  # its task's tab
    screenshot(restarted, tmp_path, "restored")
    with urllib.request.urlopen(ui.url + "v1/health", timeout=10) as answer:
        assert json.loads(answer.read())["status"] == "ok"
