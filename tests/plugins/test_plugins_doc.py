"""The minimal plugin of docs/plugins.md, copied out of the document, installed and run through the CLI.

Every fenced block whose first line is `# file: PATH` becomes that file, so the page and this test
cannot drift apart: if the documented contract stops working, this fails. A second copy of the
plugin, broken on purpose at draw time, shows that a plugin's failure names the plugin.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import CliResult, run_sdkit_process

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
FENCED = re.compile(r"^```(\w+)\n# file: (\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def documented_files() -> dict[str, str]:
    files = {path: f"# file: {path}\n{body}" for _, path, body in FENCED.findall(DOC.read_text(encoding="utf-8"))}
    assert {"pyproject.toml", "sdkit_gradient/engine.py", "sdkit_gradient/source.py"} <= set(files)
    return files


def install(files: dict[str, str], root: Path) -> Path:
    package = root / "package"
    for relative, text in files.items():
        target = package / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    site = root / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(package)],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return install(documented_files(), tmp_path_factory.mktemp("doc-plugin"))


@pytest.fixture
def sdkit(site, tmp_path):
    def run(*args: str, plugin_site: Path = site) -> CliResult:
        return run_sdkit_process(*args, env={"PYTHONPATH": str(plugin_site)}, cwd=str(tmp_path), timeout=120)

    return run


def _json(result: CliResult):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_documented_plugin_loads_and_lists_its_models(sdkit):
    [plugin] = [dist for dist in _json(sdkit("plugins", "list", "--json")) if dist["name"] == "sdkit-gradient"]
    assert plugin["status"] == "ok"
    assert {(entry["group"], entry["key"]) for entry in plugin["entry_points"]} == {
        ("sdkit.pipelines", "gradient"), ("sdkit.models", "gradient")}
    models = {model["name"]: model for model in _json(sdkit("models", "list", "--json"))}
    assert models["gradient:8"]["family"] == "gradient" and models["gradient:8"]["source"] == "gradient"


def test_the_documented_engine_draws_with_seeds_batches_and_common_infotext(sdkit, tmp_path):
    from PIL import Image

    from sdkit.outputs.infotext import read_infotext

    run = _json(sdkit("generate", "--engine", "gradient", "--seed", "-1", "-b", "2", "-o", str(tmp_path / "a"),
                      "--json"))
    assert run["model"] == "gradient:8" and run["model_is_default"] and run["seed_drawn"]
    first, second = run["images"]
    assert second["seed"] == (first["seed"] + 1) % 2**32
    fields = read_infotext(first["path"]).fields
    assert fields["Seed"] == str(first["seed"]) and fields["Size"] == "64x32" and fields["Model"] == "gradient:8"
    assert fields["Levels"] == "8" and fields["Version"].startswith("sdkit ")
    with Image.open(first["path"]) as image:
        assert image.size == (64, 32) and image.getpixel((0, 0)) == (0, 0, 0)

    by_family = _json(sdkit("generate", "--model", "gradient:4", "-W", "128", "--seed", "3",
                            "-o", str(tmp_path / "b"), "--json"))
    assert by_family["engine"] == "gradient" and by_family["images"][0]["seed"] == 3
    again = _json(sdkit("generate", "--from-image", by_family["images"][0]["path"], "-o", str(tmp_path / "c"),
                        "--json"))
    assert again["engine"] == "gradient" and again["model"] == "gradient:4"
    with Image.open(by_family["images"][0]["path"]) as one, Image.open(again["images"][0]["path"]) as other:
        assert one.tobytes() == other.tobytes()


def test_bad_input_to_the_documented_source_is_a_clear_error(sdkit):
    result = sdkit("generate", "--model", "gradient:1", "--dry-run")
    assert result.exit_code == 2 and "levels must be a number from 2 to 256" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plugin_that_fails_while_drawing_is_named_with_its_version(sdkit, tmp_path):
    files = documented_files()
    files["sdkit_gradient/engine.py"] = files["sdkit_gradient/engine.py"].replace(
        "        events.step_finished(1, 1)\n", "        events.step_finished(1, 1)\n        1 / 0\n")
    broken_site = install(files, tmp_path / "broken")
    result = sdkit("generate", "--engine", "gradient", "-o", str(tmp_path / "out"), plugin_site=broken_site)
    assert result.exit_code == 1, result.output
    assert "engine 'gradient' from the plugin sdkit-gradient 0.1.0 failed while drawing: ZeroDivisionError" \
        in result.stderr
    assert "SDKIT_LOAD_PLUGINS" in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "out").glob("*.png"))
