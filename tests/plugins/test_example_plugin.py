"""The example plugin, really installed: each of its four registrations is seen through the CLI.

The package is built and installed once for this module with pip (`--target` a temporary folder, no
dependencies, no build isolation: offline), then sdkit runs in subprocesses with that folder on
PYTHONPATH, exactly as it would after `pip install sdkit-example-plugin`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import CliResult, run_sdkit_process

PLUGIN_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "sdkit-example-plugin"
DISTRIBUTION = "sdkit-example-plugin"


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("example-plugin-site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(PLUGIN_SOURCE)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "sdkit_example_plugin" / "presets" / "txt2img" / "solid-red.yaml").is_file()
    return target


@pytest.fixture
def sdkit(plugin_dir, tmp_path):
    """Run `sdkit ARGS` with the plugin installed; extra environment variables as keywords."""

    def run(*args: str, **env: str) -> CliResult:
        return run_sdkit_process(*args, env={"PYTHONPATH": str(plugin_dir), **env}, cwd=str(tmp_path),
                                 timeout=120)

    return run


def _json(result: CliResult):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plugins_list_shows_all_four_entry_points_working(sdkit):
    [plugin] = [dist for dist in _json(sdkit("plugins", "list", "--json")) if dist["name"] == DISTRIBUTION]
    assert plugin["version"] == "0.1.0" and plugin["builtin"] is False and plugin["status"] == "ok"
    assert {(entry["group"], entry["key"], entry["status"]) for entry in plugin["entry_points"]} == {
        ("sdkit.pipelines", "solid-colour", "ok"),
        ("sdkit.samplers", "example-aliases", "ok"),
        ("sdkit.models", "solid", "ok"),
        ("sdkit.presets", DISTRIBUTION, "ok"),
    }


def test_its_sampler_alias_names_an_existing_sampler(sdkit):
    samplers = {sampler["id"]: sampler for sampler in _json(sdkit("samplers", "list", "--json"))}
    assert {"flat-euler", "Example Euler"} <= set(samplers["euler"]["aliases"])
    shown = sdkit("samplers", "show", "flat-euler")
    assert shown.exit_code == 0, shown.output
    assert "euler" in shown.stdout


def test_its_model_source_lists_and_resolves_colours(sdkit):
    result = sdkit("models", "list", "--json")
    names = {model["name"]: model for model in _json(result)}
    assert {"solid:red", "solid:blue"} <= set(names)
    assert names["solid:red"]["source"] == "solid"
    shown = _json(sdkit("models", "show", "solid:#00ff80", "--json"))
    assert shown["source"] == "solid" and shown["format"] == "solid-colour"


def test_its_preset_is_listed_with_its_engine_and_source(sdkit):
    presets = {preset["name"]: preset for preset in _json(sdkit("presets", "list", "--json"))}
    preset = presets["txt2img/solid-red"]
    assert preset["engine"] == "solid-colour" and preset["source"] == DISTRIBUTION


def test_generate_dry_run_resolves_its_preset_to_its_pipeline(sdkit):
    plan = _json(sdkit("generate", "--preset", "txt2img/solid-red", "--dry-run", "--json"))
    assert plan["engine"] == "solid-colour" and plan["task"] == "txt2img"
    assert plan["engine_source"] == f"{DISTRIBUTION} 0.1.0"
    assert plan["model"] == "solid:red"
    assert plan["params"]["sampler"] == "flat-euler" and plan["params"]["width"] == 64

    table = sdkit("generate", "--preset", "txt2img/solid-red", "--dry-run")
    assert table.exit_code == 0, table.output
    assert "solid-colour" in table.stdout


def test_generate_makes_images_of_the_prompted_colour(sdkit, tmp_path):
    from PIL import Image

    preset_run = _json(sdkit("generate", "--preset", "txt2img/solid-red", "-o", str(tmp_path / "red"), "--json"))
    [red] = preset_run["images"]
    with Image.open(red["path"]) as image:
        assert image.size == (64, 64) and image.getpixel((10, 10)) == (220, 30, 30)

    flags_run = _json(sdkit("generate", "--engine", "solid-colour", "--model", "solid:blue", "--prompt",
                            "a #00ff80 field", "-W", "32", "-H", "16", "-b", "2", "-o", str(tmp_path / "hex"),
                            "--json"))
    assert len(flags_run["images"]) == 2
    with Image.open(flags_run["images"][1]["path"]) as image:
        assert image.size == (32, 16) and image.getpixel((0, 0)) == (0, 255, 128)


def test_an_unknown_colour_is_bad_input_with_a_suggestion(sdkit):
    result = sdkit("generate", "--engine", "solid-colour", "--model", "solid:rde", "--dry-run")
    assert result.exit_code == 2
    assert "did you mean 'red'" in result.stderr and "Traceback" not in result.stderr


def test_sdkit_load_plugins_can_leave_it_out(sdkit):
    [plugin] = [dist for dist in _json(sdkit("plugins", "list", "--json", SDKIT_LOAD_PLUGINS=""))
                if dist["name"] == DISTRIBUTION]
    assert plugin["status"] == "disabled"
    missing = sdkit("generate", "--preset", "txt2img/solid-red", "--dry-run", SDKIT_LOAD_PLUGINS="")
    assert missing.exit_code == 2
    only_it = sdkit("generate", "--preset", "txt2img/solid-red", "--dry-run", "--json",
                    SDKIT_LOAD_PLUGINS=DISTRIBUTION)
    assert _json(only_it)["engine"] == "solid-colour"


def test_sdkit_hosts_the_run_seeds_numbering_and_common_infotext(sdkit, tmp_path):
    from sdkit.outputs.infotext import read_infotext

    run = _json(sdkit("generate", "--engine", "solid-colour", "--seed", "-1", "-b", "2", "-c", "2",
                      "-o", str(tmp_path), "--json"))
    assert run["seed_drawn"] is True and run["model"] == "solid:grey" and run["model_is_default"] is True
    seeds = [image["seed"] for image in run["images"]]
    first = run["first_seed"]
    assert seeds == [(first + offset) % 2**32 for offset in range(4)]
    assert [image["index"] for image in run["images"]] == [0, 1, 2, 3]
    paths = [Path(image["path"]) for image in run["images"]]
    assert [path.name for path in paths] == [f"{number:05d}-{seed}.png" for number, seed in enumerate(seeds)]
    fields = read_infotext(paths[1]).fields
    assert fields["Seed"] == str(seeds[1]) and fields["Steps"] == "1" and fields["Size"] == "256x256"
    assert fields["Model"] == "solid:grey" and fields["Colour"] == "#808080"
    assert fields["Version"].startswith("sdkit ")


def test_its_models_family_chooses_its_engine_and_from_image_comes_back_to_it(sdkit, tmp_path):
    from PIL import Image

    run = _json(sdkit("generate", "--model", "solid:teal", "--seed", "5", "-W", "16", "-H", "16",
                      "-o", str(tmp_path / "first"), "--json"))
    assert run["engine"] == "solid-colour" and run["model_info"]["family"] == "solid"
    [made] = run["images"]
    again = _json(sdkit("generate", "--from-image", made["path"], "-o", str(tmp_path / "again"), "--json"))
    assert again["engine"] == "solid-colour" and again["model"] == "solid:teal"
    with Image.open(again["images"][0]["path"]) as image:
        assert image.size == (16, 16) and image.getpixel((0, 0)) == (0, 128, 128)


def test_a_stable_diffusion_engine_refuses_its_models_before_loading(sdkit):
    result = sdkit("generate", "--engine", "sd15", "--model", "solid:red", "--dry-run")
    assert result.exit_code == 2 and "is a solid model, but engine 'sd15' runs sd1 models" in result.stderr
    assert "--engine solid-colour" in result.stderr
