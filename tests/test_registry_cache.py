"""The entry-point cache: reused while the installation is unchanged, scanned again when it changes.

Fake distributions are written with `test_registry.Site`, into folders on sys.path, as pip would
install them; the cache lives in the test's private SDKIT_HOME.
"""

from __future__ import annotations

import json

from test_registry import Site, site  # noqa: F401  (the fixture)

from sdkit.registry import PRESETS, registry, reset_registries
from sdkit.runtime.paths import paths


def cache_file():
    return paths().cache_dir / "entry-points.json"


def preset_plugin(site: Site, name: str, key: str, version: str = "1.0") -> None:  # noqa: F811
    module = f"presets_of_{name.replace('-', '_')}"
    site.distribution(name, version, {PRESETS: {key: f"{module}:FOLDER"}}, {module: "FOLDER = '/nowhere'\n"})


def test_a_distribution_installed_beside_the_others_is_seen(site):  # noqa: F811
    preset_plugin(site, "plug-a", "a")
    assert "a" in registry(PRESETS).names()
    assert ["sdkit.presets", "a", "presets_of_plug_a:FOLDER", "plug-a", "1.0"] in json.loads(
        cache_file().read_text(encoding="utf-8"))["result"]
    preset_plugin(site, "plug-b", "b")  # the same folder on sys.path, one more dist-info in it
    assert {"a", "b"} <= set(registry(PRESETS).names())


def test_an_upgraded_or_edited_distribution_is_seen(site):  # noqa: F811
    preset_plugin(site, "plug-a", "a")
    assert registry(PRESETS).entry("a").version == "1.0"
    info = site.folder() / "plug_a-1.0.dist-info"
    (info / "entry_points.txt").write_text("[sdkit.presets]\nrenamed = presets_of_plug_a:FOLDER\n")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-a\nVersion: 1.1\n")
    reset_registries()
    assert "renamed" in registry(PRESETS).names() and "a" not in registry(PRESETS).names()
    assert registry(PRESETS).entry("renamed").version == "1.1"


def test_the_cache_is_believed_while_nothing_changed(site):  # noqa: F811
    preset_plugin(site, "plug-a", "a")
    registry(PRESETS).names()
    data = json.loads(cache_file().read_text(encoding="utf-8"))
    data["result"].append(["sdkit.presets", "forged", "nowhere:X", "forged-dist", "9"])
    cache_file().write_text(json.dumps(data), encoding="utf-8")
    reset_registries()
    # No distribution registers `forged`: it can only come from the cache, which was read, not rescanned.
    assert registry(PRESETS).entry("forged").distribution == "forged-dist"


def test_a_damaged_cache_is_scanned_again_and_rewritten(site):  # noqa: F811
    preset_plugin(site, "plug-a", "a")
    registry(PRESETS).names()
    for damage in ("{oops", '{"format": 1, "installation": [], "result": 3}', "[]"):
        cache_file().write_text(damage, encoding="utf-8")
        reset_registries()
        assert "a" in registry(PRESETS).names()
    data = json.loads(cache_file().read_text(encoding="utf-8"))
    assert data["result"] and data["installation"]
    good = json.loads(cache_file().read_text(encoding="utf-8"))
    good["result"][0] = ["not", "five", "strings"]
    cache_file().write_text(json.dumps(good), encoding="utf-8")
    reset_registries()
    assert "a" in registry(PRESETS).names()


def test_targets_beyond_module_attribute_still_load(site):  # noqa: F811
    site.distribution("plug-x", "1.0", {PRESETS: {"extras": "presets_of_x:FOLDER [fast]", "bare": "presets_of_x"}},
                      {"presets_of_x": "FOLDER = '/nowhere'\n"})
    assert registry(PRESETS).get("extras") == "/nowhere"
    assert registry(PRESETS).get("bare").FOLDER == "/nowhere"
