"""Plugins add samplers and aliases through the `sdkit.samplers` entry-point group."""

from __future__ import annotations

import importlib
import json
import textwrap
import warnings

import pytest
from cli_helpers import run_sdkit

from sdkit.core.errors import UnknownKeyError
from sdkit.registry import SAMPLERS, PluginWarning, reset_registries
from sdkit.samplers import a1111_names, make_scheduler, resolve_sampler, sampler_table

PLUGIN_MODULE = '''
from sdkit.samplers import SamplerAlias, SamplerSpec

FANCY = SamplerSpec(
    id="fancy_euler", display_name="Fancy Euler", scheduler_class="EulerDiscreteScheduler",
    scheduler_kwargs={"interpolation_type": "log_linear"}, aliases=("k_fancy",),
    default_schedule="karras", schedule_types=("uniform", "karras"),
)
MY_ALIAS = SamplerAlias(target="dpmpp_2m", names=("my favourite", "DPM++ 2M (mine)"))
GREEDY = SamplerAlias(target="heun", names=("Euler", "heun please"))  # "Euler" is taken
LOST = SamplerAlias(target="no_such_sampler", names=("lost",))
NOT_A_SPEC = {"id": "dict"}
WRONG_ID = SamplerSpec(id="another_id", display_name="Wrong", scheduler_class="DDIMScheduler")
ODD_SCHEDULE = SamplerSpec(id="odd_schedule", display_name="Odd", scheduler_class="DDIMScheduler",
                           default_schedule="wavy", schedule_types=("wavy",))
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "fancy_samplers.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (site / "broken_samplers.py").write_text("raise ImportError('needs a package that is missing')\n")
    info = site / "fancy_samplers-1.2.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text("Metadata-Version: 2.1\nName: fancy-samplers\nVersion: 1.2\n")
    entries = {"fancy_euler": "FANCY", "my_alias": "MY_ALIAS", "greedy": "GREEDY", "lost": "LOST",
               "not_a_spec": "NOT_A_SPEC", "wrong_id": "WRONG_ID",
               "odd_schedule": "ODD_SCHEDULE"}
    lines = [f"[{SAMPLERS}]", *(f"{key} = fancy_samplers:{value}" for key, value in entries.items()),
             "broken = broken_samplers:THING"]
    info.joinpath("entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    reset_registries()
    yield
    import sys

    for module in ("fancy_samplers", "broken_samplers"):
        sys.modules.pop(module, None)


def test_plugin_sampler_and_aliases_resolve(plugin):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = sampler_table()
    resolved = resolve_sampler("fancy euler")
    assert resolved.id == "fancy_euler" and resolved.schedule == "karras"
    assert resolve_sampler("K_FANCY", "uniform").schedule == "uniform"
    assert table.sources["fancy_euler"] == "fancy-samplers 1.2"
    assert a1111_names(resolved) == ("Fancy Euler", "Karras")
    scheduler = make_scheduler(resolved, {"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear"})
    assert scheduler.config.interpolation_type == "log_linear" and scheduler.config.use_karras_sigmas

    assert resolve_sampler("My Favourite").id == "dpmpp_2m"
    assert resolve_sampler("dpm++ 2m (mine)").id == "dpmpp_2m"
    assert table.aliases("dpmpp_2m")[-2:] == ["my favourite", "DPM++ 2M (mine)"]
    # A taken name stays with its owner; the plugin's other names still count.
    assert resolve_sampler("Euler").id == "euler"
    assert resolve_sampler("heun please").id == "heun"
    with pytest.raises(UnknownKeyError):
        resolve_sampler("lost")

    problems = " | ".join(table.problems)
    assert "odd_schedule" not in table.samplers
    for expected in ("'Euler'", "no_such_sampler", "not_a_spec", "another_id", "broken", "needs a package",
                     "unknown schedule types ['wavy']"):
        assert expected in problems
    assert any(issubclass(warning.category, PluginWarning) for warning in caught)


def test_samplers_list_shows_plugin_entries_and_keeps_working(plugin, capsys):
    table = run_sdkit(capsys, "samplers", "list")
    assert table.exit_code == 0 and "fancy_euler" in table.stdout
    stderr = " ".join(table.stderr.split())
    assert "'broken'" in stderr and "needs a package that is missing" in stderr  # reported, not fatal
    assert stderr.count("'not_a_spec'") == 1  # once, not once per layer
    result = run_sdkit(capsys, "samplers", "list", "--json")
    assert result.exit_code == 0, result.output
    records = {record["id"]: record for record in json.loads(result.stdout)}
    assert records["fancy_euler"]["source"] == "fancy-samplers 1.2"
    assert "my favourite" in records["dpmpp_2m"]["aliases"]
