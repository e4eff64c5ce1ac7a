"""Registry rules, proven with fake distributions written into a temporary site folder.

Each fake is a `NAME-VERSION.dist-info` folder (METADATA + entry_points.txt) beside the modules its entry
points name, on a folder prepended to sys.path: importlib.metadata finds it exactly as it finds a
pip-installed plugin.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import RuntimeFailure, UnknownKeyError, UserInputError
from sdkit.debug.inventory import plugin_inventory
from sdkit.registry import PIPELINES, PRESETS, PluginLoadError, PluginWarning, registry, reset_registries

ENGINE_SOURCE = '''
class Engine:
    description = "a fake engine for registry tests"
    tasks = {"txt2img"}  # plain strings: the registry turns them into Task values when loading
    modes = {"normal"}

    def __init__(self, name):
        self.name = name

    def defaults(self, task, mode):
        return {}

    def size_limits(self, task):
        return None

    def load(self, model, options):
        return None

    def draw(self, loaded, batch, events):
        return []
'''


class Site:
    """Writes fake distributions and their modules into folders on sys.path."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        self.modules: list[str] = []
        self.folders: dict[str, Path] = {}

    def folder(self, name: str = "site") -> Path:
        if name not in self.folders:
            path = self.root / name
            path.mkdir(parents=True)
            self.monkeypatch.syspath_prepend(str(path))
            self.folders[name] = path
        return self.folders[name]

    def distribution(self, name: str, version: str, entry_points: dict[str, dict[str, str]],
                     modules: dict[str, str] | None = None, folder: str = "site",
                     metadata: str | None = None) -> None:
        where = self.folder(folder)
        info = where / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        info.joinpath("METADATA").write_text(
            metadata if metadata is not None else f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = []
        for group, entries in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{key} = {target}" for key, target in entries.items()]
        info.joinpath("entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in (modules or {}).items():
            where.joinpath(f"{module}.py").write_text(textwrap.dedent(source))
            self.modules.append(module)
        importlib.invalidate_caches()
        reset_registries()

    def engine_plugin(self, name: str, keys: list[str], module: str, folder: str = "site",
                      version: str = "1.0") -> None:
        """A distribution registering fake engines under `keys` in sdkit.pipelines."""
        body = ENGINE_SOURCE + "".join(f"\n{_ident(key)} = Engine({key!r})\n" for key in keys)
        self.distribution(name, version, {PIPELINES: {key: f"{module}:{_ident(key)}" for key in keys}},
                          {module: body}, folder=folder)

    def forget_modules(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)


def _ident(key: str) -> str:
    return "ENGINE_" + key.replace("-", "_").upper()


@pytest.fixture
def site(tmp_path, monkeypatch):
    fake_site = Site(tmp_path, monkeypatch)
    yield fake_site
    fake_site.forget_modules()
    reset_registries()


# -- unknown keys --------------------------------------------------------------------------------------

def test_unknown_key_is_a_key_error_naming_group_key_known_keys_and_closest(site):
    site.engine_plugin("colour-plugin", ["fakepipe-alpha", "fakepipe-beta"], "colour_plugin_mod")

    with pytest.raises(KeyError) as caught:
        registry(PIPELINES).get("fakepipe-alpah")

    error = caught.value
    assert isinstance(error, UnknownKeyError) and isinstance(error, UserInputError)
    assert error.exit_code == 2
    assert "engine" in error.message and "'fakepipe-alpah'" in error.message
    assert error.suggestions[0] == "fakepipe-alpha"
    assert "did you mean 'fakepipe-alpha'" in error.message
    assert {"fakepipe-alpha", "fakepipe-beta"} <= set(error.known)
    assert "fakepipe-beta" in error.hint
    assert str(error) == error.message  # not KeyError's repr()


def test_unknown_key_with_no_close_match_still_lists_what_exists(site):
    site.engine_plugin("colour-plugin", ["fakepipe-alpha"], "colour_plugin_mod")
    with pytest.raises(UnknownKeyError) as caught:
        registry(PIPELINES).get("zzzzzz")
    assert caught.value.suggestions == []
    assert "did you mean" not in caught.value.message
    assert "fakepipe-alpha" in caught.value.hint


# -- collisions --------------------------------------------------------------------------------------

@pytest.mark.parametrize("zeta_first", [True, False])
def test_two_plugins_with_one_key_give_a_deterministic_winner_and_a_warning_naming_both(site, zeta_first):
    # Folders prepended later come first on sys.path, so both orders of discovery are tried.
    order = ["a", "b"] if zeta_first else ["b", "a"]
    site.engine_plugin("zeta-plugin", ["fakepipe-shared"], "zeta_plugin_mod", folder=order[1], version="2.0")
    site.engine_plugin("alpha-plugin", ["fakepipe-shared"], "alpha_plugin_mod", folder=order[0], version="1.5")

    with pytest.warns(PluginWarning) as warned:
        entry = registry(PIPELINES).entry("fakepipe-shared")

    assert entry.distribution == "alpha-plugin"
    message = str(warned[0].message)
    assert "alpha-plugin 1.5" in message and "zeta-plugin 2.0" in message and "'fakepipe-shared'" in message
    assert registry(PIPELINES).get("fakepipe-shared").__class__.__module__ == "alpha_plugin_mod"


def test_a_plugin_replaces_a_builtin_on_purpose_with_a_warning(site):
    builtin_target = registry(PRESETS).entry("builtin").target
    reset_registries()
    site.distribution("override-plugin", "0.3", {PRESETS: {"builtin": "override_plugin_mod:FOLDER"}},
                      {"override_plugin_mod": "FOLDER = 'elsewhere'\n"})

    with pytest.warns(PluginWarning, match=r"override-plugin 0\.3.*built-in"):
        winner = registry(PRESETS).entry("builtin")

    assert winner.distribution == "override-plugin"
    shadowed = [entry for dist in plugin_inventory(load=False) for entry in dist.entries
                if entry.status == "shadowed"]
    assert [(entry.key, entry.target) for entry in shadowed] == [("builtin", builtin_target)]
    assert "override-plugin 0.3" in shadowed[0].detail


# -- broken plugins ------------------------------------------------------------------------------------

BROKEN_SOURCE = "raise ImportError('needs libfrobnicate, which is not installed')\n"


@pytest.fixture
def broken_site(site):
    site.engine_plugin("good-plugin", ["fakepipe-good"], "good_plugin_mod")
    site.distribution("broken-plugin", "0.9", {PIPELINES: {"fakepipe-broken": "broken_plugin_mod:ENGINE"}},
                      {"broken_plugin_mod": BROKEN_SOURCE})
    return site


def test_a_plugin_that_fails_to_import_fails_only_where_it_is_needed(broken_site):
    pipelines = registry(PIPELINES)
    assert "fakepipe-broken" in pipelines.names()  # listing imports nothing, so it still lists

    with pytest.raises(PluginLoadError) as caught:
        pipelines.get("fakepipe-broken")

    error = caught.value
    assert isinstance(error, RuntimeFailure) and error.exit_code == 1
    assert "broken-plugin 0.9" in error.message and "libfrobnicate" in error.message
    assert "SDKIT_LOAD_PLUGINS" in error.hint and "broken-plugin" in error.hint
    assert pipelines.get("fakepipe-good").name == "fakepipe-good"


def test_plugins_list_shows_the_broken_plugin_with_its_error_and_the_others_ok(broken_site, capsys):
    result = run_sdkit(capsys, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    by_name = {dist["name"]: dist for dist in json.loads(result.stdout)}
    assert by_name["broken-plugin"]["status"] == "broken"
    [entry] = by_name["broken-plugin"]["entry_points"]
    assert entry["detail"] == "ImportError: needs libfrobnicate, which is not installed"
    assert by_name["good-plugin"]["status"] == "ok"
    assert by_name["sdkit-cli"]["status"] == "ok" and by_name["sdkit-cli"]["builtin"] is True

    table = run_sdkit(capsys, "plugins", "list")
    assert table.exit_code == 0
    assert "broken-plugin" in table.stdout and "fakepipe-broken (broken)" in table.stdout
    assert "libfrobnicate" in table.stderr


def test_other_commands_work_beside_a_broken_plugin(broken_site, capsys):
    result = run_sdkit(capsys, "presets", "list", "--json")
    assert result.exit_code == 0, result.output
    assert any(preset["name"] == "txt2img/basic" for preset in json.loads(result.stdout))


@pytest.mark.parametrize(("source", "expected"), [
    ("ENGINE = object()\n", "TypeError"),  # loads, but is not an engine
    ("import sys\nsys.exit(3)\n", "SystemExit"),  # must not take the CLI down with it
    ("ENGINE = 1 / 0\n", "ZeroDivisionError"),
])
def test_any_failure_while_loading_is_reported_as_broken(site, source, expected):
    site.distribution("odd-plugin", "1.0", {PIPELINES: {"fakepipe-odd": "odd_plugin_mod:ENGINE"}},
                      {"odd_plugin_mod": source})
    [dist] = [dist for dist in plugin_inventory() if dist.name == "odd-plugin"]
    assert dist.status == "broken"
    assert dist.entries[0].detail.startswith(expected)


def test_damaged_metadata_does_not_stop_listing(site):
    site.distribution("nameless", "1.0", {PIPELINES: {"fakepipe-nameless": "nameless_mod:ENGINE"}},
                      metadata="Metadata-Version: 2.1\n")
    site.engine_plugin("good-plugin", ["fakepipe-good"], "good_plugin_mod")
    entries = registry(PIPELINES).entries()
    assert entries["fakepipe-nameless"].distribution == "nameless"
    assert entries["fakepipe-nameless"].version == "?"
    assert "fakepipe-good" in entries


# -- SDKIT_LOAD_PLUGINS ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "loaded"), [
    (None, {"fakepipe-one", "fakepipe-two"}),
    ("", set()),
    ("  ", set()),
    ("one-plugin", {"fakepipe-one"}),
    ("One_Plugin, two.plugin", {"fakepipe-one", "fakepipe-two"}),
    ("unrelated", set()),
])
def test_sdkit_load_plugins_limits_third_party_plugins_only(site, monkeypatch, setting, loaded):
    if setting is not None:
        monkeypatch.setenv("SDKIT_LOAD_PLUGINS", setting)
    site.engine_plugin("one-plugin", ["fakepipe-one"], "one_plugin_mod")
    site.engine_plugin("two-plugin", ["fakepipe-two"], "two_plugin_mod")

    if setting == "unrelated":  # a name no installed plugin has: warned about, since it is likely a typo
        with pytest.warns(PluginWarning, match="'unrelated', which is not an installed sdkit plugin"):
            names = set(registry(PIPELINES).names())
    else:
        names = set(registry(PIPELINES).names())
    assert names & {"fakepipe-one", "fakepipe-two"} == loaded
    assert "builtin" in registry(PRESETS).names()  # built-ins are never turned off
    disabled = {entry.key for entry in registry(PIPELINES).disabled()}
    assert disabled == {"fakepipe-one", "fakepipe-two"} - loaded


def test_disabled_plugins_are_shown_as_disabled_and_never_imported(site, monkeypatch, capsys):
    monkeypatch.setenv("SDKIT_LOAD_PLUGINS", "")
    site.distribution("broken-plugin", "0.9", {PIPELINES: {"fakepipe-broken": "broken_plugin_mod:ENGINE"}},
                      {"broken_plugin_mod": BROKEN_SOURCE})
    result = run_sdkit(capsys, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    [dist] = [dist for dist in json.loads(result.stdout) if dist["name"] == "broken-plugin"]
    assert dist["status"] == "disabled"
    assert "SDKIT_LOAD_PLUGINS" in dist["entry_points"][0]["detail"]
    assert "broken_plugin_mod" not in sys.modules

    with pytest.raises(UnknownKeyError):
        registry(PIPELINES).get("fakepipe-broken")


# -- logging -------------------------------------------------------------------------------------------

class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_each_resolution_is_logged_at_debug_level_with_distribution_and_version(site):
    site.engine_plugin("colour-plugin", ["fakepipe-alpha"], "colour_plugin_mod", version="4.2.1")
    logger = logging.getLogger("sdkit.registry")
    records = _Records()
    logger.addHandler(records)
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        registry(PIPELINES).get("fakepipe-alpha")
        registry(PIPELINES).get("fakepipe-alpha")  # cached: resolved once
        registry(PRESETS).get("builtin")
    finally:
        logger.removeHandler(records)
        logger.setLevel(old_level)

    plugin_lines = [line for line in records.messages if "'fakepipe-alpha'" in line]
    assert len(plugin_lines) == 1
    assert "colour_plugin_mod:ENGINE_FAKEPIPE_ALPHA" in plugin_lines[0]
    assert "colour-plugin 4.2.1" in plugin_lines[0]
    [builtin_line] = [line for line in records.messages if "'builtin'" in line]
    assert "sdkit-cli" in builtin_line and "built-in" in builtin_line


def test_entries_of_the_wrong_shape_are_broken_in_pipelines_and_models(site):
    site.distribution("shapeless-plugin", "1.0", {
        PIPELINES: {"fakepipe-shapeless": "shapeless_mod:THING"},
        "sdkit.models": {"fake-source": "shapeless_mod:THING"},
    }, {"shapeless_mod": "THING = 'just a string'\n"})
    [dist] = [dist for dist in plugin_inventory() if dist.name == "shapeless-plugin"]
    details = {entry.group: entry.detail for entry in dist.entries}
    assert "is not an sdkit engine" in details[PIPELINES]
    assert "is not an sdkit model source" in details["sdkit.models"]


# -- the engine contract is checked at registration ------------------------------------------------

def test_task_and_mode_strings_are_converted_when_the_engine_loads(site):
    from sdkit.core.tasks import Mode, Task

    site.engine_plugin("string-plugin", ["fakepipe-strings"], "string_plugin_mod")
    engine = registry(PIPELINES).get("fakepipe-strings")
    assert engine.tasks == frozenset({Task.TXT2IMG}) and engine.modes == frozenset({Mode.NORMAL})
    assert all(isinstance(task, Task) for task in engine.tasks)


def test_a_misspelt_task_makes_the_plugin_broken_at_once_not_later(site):
    site.distribution("typo-plugin", "2.0", {PIPELINES: {"fakepipe-typo": "typo_mod:ENGINE"}},
                      {"typo_mod": ENGINE_SOURCE.replace('{"txt2img"}', '{"txt2imgg"}')
                       + "\nENGINE = Engine('fakepipe-typo')\n"})
    with pytest.raises(PluginLoadError) as caught:
        registry(PIPELINES).get("fakepipe-typo")
    assert "'txt2imgg', which is not a task" in caught.value.message and "typo-plugin 2.0" in caught.value.message
    result = run_sdkit_plugins_list_json()
    [dist] = [dist for dist in result if dist["name"] == "typo-plugin"]
    assert dist["entry_points"][0]["status"] == "broken"


def run_sdkit_plugins_list_json():
    return [{"name": dist.name, "entry_points": [{"status": entry.status} for entry in dist.entries]}
            for dist in plugin_inventory()]


def test_an_unknown_name_in_sdkit_load_plugins_is_warned_about_with_a_suggestion(site, monkeypatch):
    site.engine_plugin("colour-plugin", ["fakepipe-colour"], "colour_warn_mod")
    monkeypatch.setenv("SDKIT_LOAD_PLUGINS", "colour-plugn")
    reset_registries()
    with pytest.warns(PluginWarning, match=r"'colour-plugn', which is not an installed sdkit plugin; "
                                           r"did you mean 'colour-plugin'\?"):
        registry(PIPELINES).names()


def test_a_model_source_whose_models_are_invalid_is_skipped_and_the_rest_are_listed(site, tmp_path, monkeypatch):
    from sdkit.models import list_models

    site.distribution("bad-models", "0.3", {"sdkit.models": {"bad-family": "bad_models_mod:SOURCE"}},
                      {"bad_models_mod": """
                          from sdkit.plugin import ModelRef

                          class Source:
                              kind = "bad-family"

                              def describe(self, reference):
                                  return None

                              def list_available(self, models_dir):
                                  return [ModelRef(name="x", location="x", source="bad-family", format="x",
                                                   family=None)]

                          SOURCE = Source()
                      """})
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("SDKIT_MODELS_DIR", str(tmp_path / "models"))
    from sdkit.demo import DEMO_MODEL_DIR

    (tmp_path / "models" / "demo").symlink_to(DEMO_MODEL_DIR)
    names = [ref.name for ref in list_models()]
    assert names == ["demo"]  # the built-in models-folder source still lists its model


def test_model_refs_accept_any_family_key_and_refuse_bad_ones():
    from sdkit.plugin import ModelRef

    assert ModelRef(name="a", location="a", source="s", format="f", family="my-family.v2").family == "my-family.v2"
    for bad in (None, "", "Has Spaces", "UPPER", 3):
        with pytest.raises(ValueError, match="family"):
            ModelRef(name="a", location="a", source="s", format="f", family=bad)
