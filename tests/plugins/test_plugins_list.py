"""`sdkit plugins list` with only sdkit's built-ins: what it shows, and that it stays light."""

from __future__ import annotations

import json
import subprocess
import sys

from cli_helpers import run_sdkit

HEAVY = ("torch", "diffusers", "transformers", "spandrel", "accelerate")


def test_lists_sdkit_itself_as_built_in_with_every_group(capsys):
    result = run_sdkit(capsys, "plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    [sdkit] = [dist for dist in json.loads(result.stdout) if dist["name"] == "sdkit-cli"]
    assert sdkit["builtin"] is True and sdkit["status"] == "ok"
    groups = {entry["group"] for entry in sdkit["entry_points"]}
    assert {"sdkit.pipelines", "sdkit.samplers", "sdkit.presets"} <= groups
    assert all(entry["status"] == "ok" and entry["target"].startswith("sdkit.") for entry in sdkit["entry_points"])

    table = run_sdkit(capsys, "plugins", "list")
    assert table.exit_code == 0
    assert "sdkit-cli" in table.stdout and "(built-in)" in table.stdout and "pipelines" in table.stdout


def test_no_load_reads_metadata_only(capsys):
    result = run_sdkit(capsys, "plugins", "list", "--no-load", "--json")
    assert result.exit_code == 0, result.output
    statuses = {entry["status"] for dist in json.loads(result.stdout) for entry in dist["entry_points"]}
    assert statuses == {"unchecked"}
    table = run_sdkit(capsys, "plugins", "list", "--no-load")
    assert "were not loaded" in " ".join(table.stderr.split())


def test_plugins_list_and_help_load_the_builtins_without_torch_or_diffusers():
    # A fresh process: sys.modules shows what listing (which loads every built-in entry point) imported.
    script = (
        "import json, sys\n"
        "from sdkit.cli.app import main\n"
        "for argv in (['--help'], ['plugins', 'list'], ['plugins', 'list', '--json']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code in (0, None), (argv, stop.code)\n"
        f"heavy = sorted(name for name in sys.modules if name.split('.')[0] in {HEAVY!r})\n"
        "sys.stderr.write('HEAVY=' + json.dumps(heavy) + '\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("HEAVY=")]
    assert json.loads(line.removeprefix("HEAVY=")) == []
    assert '"status": "ok"' in done.stdout  # the built-ins really were loaded, not just listed
