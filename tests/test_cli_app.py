"""The CLI's contract: exit codes, one clear message and hint, full context in the log, a light --help."""

from __future__ import annotations

import json

from cli_helpers import run_sdkit, run_sdkit_process

from sdkit import __version__

HEAVY = ("torch", "diffusers", "transformers", "spandrel")


def test_version_and_help(capsys):
    assert run_sdkit(capsys, "--version").stdout.strip() == f"sdkit {__version__}"
    result = run_sdkit(capsys, "--help")
    assert result.exit_code == 0
    for command in ("generate", "presets", "samplers", "models", "inspect", "plugins", "benchmark", "export-debug"):
        assert command in result.stdout


def test_bad_input_exits_2_with_message_and_hint_and_no_traceback(capsys, sdkit_home):
    result = run_sdkit(capsys, "generate", "--engine", "sd15", "--task", "txt2img", "--steps", "0",
                       "--width", "100", "--dry-run", "--model", "no/such-model-anywhere")
    assert result.exit_code == 2
    assert "error:" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.output


def test_invalid_params_list_every_problem(capsys, sdkit_home):
    result = run_sdkit(capsys, "generate", "--engine", "sd15", "--task", "upscale", "--dry-run")
    assert result.exit_code == 2
    assert "engine 'sd15' does not do upscale; it does: img2img, inpaint, txt2img" in result.stderr


def test_unknown_engine_suggests_the_closest(capsys):
    result = run_sdkit(capsys, "generate", "--engine", "sd16", "--task", "upscale", "--dry-run")
    assert result.exit_code == 2
    assert "unknown engine 'sd16'" in result.stderr and "did you mean 'sd15'" in result.stderr


def test_failures_are_logged_with_context_and_trace(capsys, sdkit_home):
    result = run_sdkit(capsys, "generate", "--engine", "sd15", "--task", "txt2img", "--steps", "0", "--dry-run",
                       "--prompt", "a cat")
    assert result.exit_code == 2
    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "failure:" in log_text and "Traceback" in log_text
    context = log_text.split("context: ", 1)[1]
    assert '"engine": "sd15"' in context and '"task": "txt2img"' in context


def test_unexpected_errors_exit_1_and_point_at_the_log(capsys, monkeypatch, sdkit_home):
    import sdkit.run.plan as plan

    def explode(**kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(plan, "make_plan", explode)
    result = run_sdkit(capsys, "generate", "--dry-run")
    assert result.exit_code == 1
    assert "ZeroDivisionError: boom" in result.stderr and "details are in the log" in result.stderr
    assert "Traceback" not in result.output
    assert "ZeroDivisionError" in (sdkit_home / "logs" / "sdkit.log").read_text()


def test_debug_flag_shows_the_traceback(capsys):
    import pytest

    with pytest.raises(Exception) as caught:
        from sdkit.cli.app import main

        main(["--debug", "generate", "--engine", "nope", "--dry-run"])
    assert "unknown engine" in str(caught.value)


def test_help_does_not_import_heavy_packages():
    import subprocess
    import sys

    code = ("import sys, runpy; sys.argv=['sdkit','--help']\n"
            "try:\n    runpy.run_module('sdkit', run_name='__main__')\nexcept SystemExit: pass\n"
            f"import json; print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")

    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = json.loads(completed.stdout.strip().splitlines()[-1])
    assert loaded == []


def test_python_dash_m_runs_the_cli():
    result = run_sdkit_process("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"sdkit {__version__}"


def test_every_console_warning_reads_the_same(capsys, monkeypatch, tmp_path):
    # One warning from Python's warnings (an unknown plugin name) and one logged by sdkit (a preset whose
    # model is missing, in a file whose name carries an escape sequence): the same `warning: ` line.
    monkeypatch.setenv("SDKIT_LOAD_PLUGINS", "no-such-plugin")
    preset = tmp_path / "odd\x1b[2Jname.yaml"
    preset.write_text("schema_version: 1\ntask: txt2img\nmodel: ~/nope/model.safetensors\n")
    result = run_sdkit(capsys, "presets", "validate", preset)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert any("no-such-plugin" in line for line in lines) and any("not usable here" in line for line in lines)
    for line in lines:
        assert line.startswith("warning: "), line
    assert "odd\\x1b[2Jname.yaml" in result.stderr and "\x1b" not in result.stderr


def test_logged_errors_read_like_the_cli_errors(capsys, sdkit_home):
    import logging

    from sdkit.runtime.logs import setup_logging

    setup_logging()
    capsys.readouterr()
    logging.getLogger("sdkit.test").error("a broken \x1b[31mthing")
    logging.getLogger("sdkit.test").critical("worse")
    assert capsys.readouterr().err == "error: a broken \\x1b[31mthing\nerror: worse\n"


def test_click_usage_errors_reach_the_log(capsys, sdkit_home):
    result = run_sdkit(capsys, "generate", "--seed", "abc", "--prompt", "a cat")
    assert result.exit_code == 2
    assert "Invalid value for '--seed'" in result.stderr and "Usage:" in result.stderr  # Click's own message
    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "usage error: Invalid value for '--seed'" in log_text
    assert "command line: sdkit generate --seed abc --prompt 'a cat'" in log_text


def test_usage_errors_of_the_root_command_reach_the_log(capsys, sdkit_home):
    # Refused before the root command sets up logging.
    result = run_sdkit(capsys, "--no-such-flag", "inspect")
    assert result.exit_code == 2 and "No such option: --no-such-flag" in result.stderr
    log_text = (sdkit_home / "logs" / "sdkit.log").read_text()
    assert "usage error: No such option: --no-such-flag" in log_text
    assert "command line: sdkit --no-such-flag inspect" in log_text


def test_console_log_lines_follow_stderr_when_it_is_swapped(capsys, monkeypatch, sdkit_home):
    import io
    import logging
    import sys

    from sdkit.runtime.logs import setup_logging

    setup_logging()
    swapped = io.StringIO()  # what rich's progress display does while it draws the bar
    monkeypatch.setattr(sys, "stderr", swapped)
    logging.getLogger("sdkit.test").warning("during the progress bar")
    assert swapped.getvalue() == "warning: during the progress bar\n"


def test_ctrl_c_in_any_command_says_interrupted_and_exits_130(capsys, sdkit_home, monkeypatch):
    import sdkit.models

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sdkit.models, "survey_models", interrupted)
    result = run_sdkit(capsys, "models", "list")
    assert result.exit_code == 130
    assert result.stderr.strip().endswith("interrupted")
    assert "Traceback" not in result.output


def test_empty_names_are_refused_not_read_as_defaults(capsys, sdkit_home):
    for args, words in ((("samplers", "show", ""), "the sampler name is empty"),
                        (("generate", "--sampler", " ", "--dry-run"), "the sampler name is empty"),
                        (("generate", "--schedule", "", "--dry-run"), "the schedule type name is empty"),
                        (("export-debug", "-o", ""), "the output path is empty"),
                        (("presets", "list", "--task", "paint"), "unknown task 'paint'")):
        result = run_sdkit(capsys, *args)
        assert (result.exit_code, words in result.stderr) == (2, True), (args, result.stderr)
