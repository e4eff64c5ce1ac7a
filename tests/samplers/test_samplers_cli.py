"""`sdkit samplers list|schedules|show` through the CLI."""

from __future__ import annotations

import json

from cli_helpers import run_sdkit

from sdkit.samplers.builtin import BUILTIN_SAMPLERS


def flat(text: str) -> str:
    """Console text with rich's line wrapping undone."""
    return " ".join(text.split())


def test_list_json_has_every_sampler_with_its_names_and_schedules(capsys):
    result = run_sdkit(capsys, "samplers", "list", "--json")
    assert result.exit_code == 0, result.output
    records = {record["id"]: record for record in json.loads(result.stdout)}
    assert set(records) == {spec.id for spec in BUILTIN_SAMPLERS}
    dpmpp_2m = records["dpmpp_2m"]
    assert dpmpp_2m["display_name"] == "DPM++ 2M" and "k_dpmpp_2m" in dpmpp_2m["aliases"]
    assert dpmpp_2m["default_schedule"] == "karras" and "exponential" in dpmpp_2m["schedule_types"]
    assert dpmpp_2m["source"] == "built-in" and dpmpp_2m["supported"]
    adaptive = records["dpm_adaptive"]
    assert adaptive["supported"] is False and adaptive["nearest"] == "dpmpp_2m"
    supported = json.loads(run_sdkit(capsys, "samplers", "list", "--json", "--supported").stdout)
    # 17 run on diffusers; DPM++ 2S a, DPM++ 3M SDE, Restart, iPNDM and iPNDM v only in sdkit.sampling, under
    # A1111's names (the first three) or ComfyUI's (all but Restart)
    assert "dpm_adaptive" not in {record["id"] for record in supported} and len(supported) == 22
    own_only = {record["id"] for record in supported if not record["supported"]}
    assert own_only == {"dpmpp_2s_ancestral", "dpmpp_3m_sde", "restart", "ipndm", "ipndm_v"}
    assert {record["id"] for record in supported if record["id"] in own_only and record["a1111_method"]} == {
        "dpmpp_2s_ancestral", "dpmpp_3m_sde", "restart"}
    assert {record["id"] for record in supported if record["id"] in own_only and record["comfyui_method"]} == {
        "dpmpp_2s_ancestral", "dpmpp_3m_sde", "ipndm", "ipndm_v"}


def test_list_table_marks_unsupported(capsys):
    result = run_sdkit(capsys, "samplers", "list")
    assert result.exit_code == 0
    assert "DPM++ 2M SDE" in result.stdout and "unsupported" in result.stdout
    assert "dpm_adaptive" in result.stdout


def test_show_resolves_a_legacy_name(capsys):
    result = run_sdkit(capsys, "samplers", "show", "DPM++ 2M SDE Karras", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["id"], record["schedule"]) == ("dpmpp_2m_sde", "karras")
    assert record["infotext"] == {"Sampler": "DPM++ 2M SDE", "Schedule type": "Karras"}


def test_show_errors_exit_2_with_hints(capsys):
    unsupported = run_sdkit(capsys, "samplers", "show", "DPM adaptive")
    assert unsupported.exit_code == 2 and "nearest supported sampler is 'DPM++ 2M'" in flat(unsupported.stderr)
    unknown = run_sdkit(capsys, "samplers", "show", "eulr a")
    assert unknown.exit_code == 2 and "did you mean" in flat(unknown.stderr) and "Euler a" in flat(unknown.stderr)


def test_schedules_json(capsys):
    listed = json.loads(run_sdkit(capsys, "samplers", "schedules", "--json").stdout)
    records = {record["id"]: record for record in listed}
    assert records["karras"]["sigmas_flag"] == "use_karras_sigmas"
    assert records["sgm_uniform"]["timestep_spacing"] == "trailing"
    assert records["align_your_steps"]["supported"] is False


def test_listing_and_resolving_import_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sdkit.cli.app import main\n"
        "from sdkit.samplers import resolve_sampler, a1111_names\n"
        "from sdkit.outputs.infotext import format_infotext, parse_infotext\n"
        "a1111_names(resolve_sampler('DPM++ 2M Karras'))\n"
        "try:\n"
        "    main(['samplers', 'list', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers', 'spandrel') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "HEAVY []" in completed.stderr
