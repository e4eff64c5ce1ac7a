"""Every case of the bad-input corpus, run through the real CLI, and the checks every case must pass.

For each case: the exit code; no traceback, no "sdkit failed" (an unexpected exception) and no raw escape
byte on the console; the words that name the bad thing; a hint for bad input (exit 2) and the log's place
for a runtime failure (exit 1); a record in the log file (cases that end well and have nothing to report,
such as `inspect` showing escaped metadata, say `log=()`); nothing left in the output folder or the working
folder (no image, no `.part` file anywhere), except the images a surprise case still makes; and the time
the command took, under the case's limit (10 s).

Cases run in this process (`run_sdkit`), which is fast; only signal cases start a real process, and they
are held to the time from the signal to the exit. The first case that needs a model warms the ML
libraries up outside its timed run: importing torch and diffusers is the cost of starting sdkit, not of
handling the bad input. A case that blocks (a read that never returns) is stopped by an alarm and fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import CliResult, run_sdkit, run_sdkit_process

from bad_inputs.cases_embeddings import CASES as EMBEDDING_CASES
from bad_inputs.cases_generate import CASES as GENERATE_CASES
from bad_inputs.cases_hires import CASES as HIRES_CASES
from bad_inputs.cases_images import CASES as IMAGE_CASES
from bad_inputs.cases_loras import CASES as LORA_CASES
from bad_inputs.cases_models import CASES as MODEL_CASES
from bad_inputs.cases_other import CASES as OTHER_CASES
from bad_inputs.cases_presets import CASES as PRESET_CASES
from bad_inputs.cases_prompt import CASES as PROMPT_CASES
from bad_inputs.corpus import MODELS, Case, Ctx, flat

ALL_CASES: list[Case] = [*GENERATE_CASES, *IMAGE_CASES, *MODEL_CASES, *PRESET_CASES, *PROMPT_CASES, *EMBEDDING_CASES,
                         *HIRES_CASES, *LORA_CASES, *OTHER_CASES]
MINIMUM_CASES = 150
TEMP_MARKS = (".part", ".tmp")

_warm = {"done": False}


class CaseHung(BaseException):
    """Raised by the alarm in a case that blocks (a BaseException, so no `except Exception` in sdkit eats it)."""


def _run_in_process(case: Case, args: list[str], capsys) -> CliResult:
    """`run_sdkit`, stopped by an alarm if the command blocks (a read that never returns hangs the suite)."""
    limit = case.time_limit * 3

    def hung(signum, frame):
        raise CaseHung

    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return run_sdkit(capsys, *args)
    except CaseHung:
        pytest.fail(f"sdkit {' '.join(args)[:300]} blocked for {limit:.0f} s", pytrace=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_is_large_and_every_id_is_unique():
    ids = [case.id for case in ALL_CASES]
    assert len(ids) >= MINIMUM_CASES, len(ids)
    assert len(set(ids)) == len(ids), sorted({name for name in ids if ids.count(name) > 1})


def _uses_a_model(case: Case) -> bool:
    """Whether the case names a tiny model, or builds files or a setup that may."""
    return bool(case.files or case.setup) or any(f"{{{name}}}" in argument for argument in case.args
                                                 for name in MODELS)


def _warm_up(ctx: Ctx, capsys) -> None:
    """One tiny real run, in a home of its own, so the first timed case does not pay for the imports."""
    if _warm["done"]:
        return
    home = ctx.tmp / "warm-up-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDKIT_HOME", str(home))
        result = run_sdkit(capsys, "generate", "--model", str(ctx.model("sd1")), "--prompt", "warm up",
                           "--steps", "1", "-W", "64", "-H", "64", "--seed", "1", "-o", str(ctx.tmp / "warm-up"))
    assert result.exit_code == 0, result.output
    _warm["done"] = True


def _run_process(case: Case, args: list[str], ctx: Ctx) -> tuple[CliResult, float]:
    """Run sdkit as a process; with signals, send them once stderr shows `case.after`.

    Returns the result and the time the case is held to: from the signal to the exit for signal cases
    (a fresh process spends seconds importing torch before it loads anything), else the whole run.
    """
    started = time.monotonic()
    if not case.signals:
        result = run_sdkit_process(*args, cwd=str(ctx.cwd), timeout=case.time_limit + 60)
        return result, time.monotonic() - started
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "sdkit", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=ctx.cwd)
    seen = []
    try:
        while True:
            line = process.stderr.readline()
            seen.append(line)
            if case.after in line or not line:
                break
        assert process.poll() is None, f"ended before {case.after!r}: {''.join(seen)}"
        signalled = time.monotonic()
        for number in case.signals:
            process.send_signal(number)
            time.sleep(0.05)
        stdout, stderr = process.communicate(timeout=case.time_limit + 60)
        responded = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert time.monotonic() - started < 60, "the process ran for over a minute"
    return CliResult(process.returncode, stdout, "".join(seen) + stderr), responded


def _left_behind(folder: Path) -> list[str]:
    """Every temporary or partial file under `folder` (the corpus's own inputs never look like one)."""
    found = []
    for root, _folders, names in os.walk(folder):
        for name in names:
            if name.endswith(TEMP_MARKS) or name.startswith(".sdkit-"):
                found.append(os.path.join(root, name))
    return found


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_bad_input(case: Case, capsys, tmp_path, sdkit_home, request, monkeypatch):
    ctx = Ctx(tmp_path, sdkit_home, request, monkeypatch)
    if not case.process and _uses_a_model(case):
        _warm_up(ctx, capsys)  # before the case changes anything: plugins, os.link, the environment
    for name, build in case.files.items():
        path = ctx.inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        build(path, ctx)
    if case.setup is not None:
        case.setup(ctx)
    args = [ctx.expand(argument) for argument in case.args]
    for key, value in case.env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, ctx.expand(value))
    monkeypatch.chdir(ctx.cwd)

    if case.process:
        result, elapsed = _run_process(case, args, ctx)
    else:
        started = time.monotonic()
        result = _run_in_process(case, args, capsys)
        elapsed = time.monotonic() - started

    shown = f"sdkit {' '.join(args)[:300]}\n--- exit {result.exit_code}\n{result.output[-3000:]}"
    assert result.exit_code == case.code, shown
    assert "Traceback" not in result.output, shown
    assert "sdkit failed" not in result.output, shown  # the words of an unexpected exception
    assert "\x1b" not in result.output, shown
    output = flat(result.output)
    for word in case.words:
        assert flat(ctx.expand(word)) in output, f"missing {ctx.expand(word)!r}\n{shown}"
    for word in case.stdout:
        assert flat(ctx.expand(word)) in flat(result.stdout), f"missing on stdout: {word!r}\n{shown}"
    for word in case.not_words:
        assert flat(ctx.expand(word)) not in output, f"unexpected {word!r}\n{shown}"
    if case.code == 2:
        assert case.hint in result.output, shown
    if case.code == 1:
        assert "details are in the log" in result.output, shown
    assert len(result.output) < case.max_output, f"{len(result.output)} characters of output\n{shown}"

    log_text = ctx.log_file.read_text(encoding="utf-8", errors="replace") if ctx.log_file.exists() else ""
    for word in case.log if case.log is not None else case.words[:1]:
        assert flat(ctx.expand(word)) in flat(log_text), f"not in the log: {word!r}\n{shown}\n{log_text[-2000:]}"

    made = sorted(ctx.out.rglob("*")) if ctx.out.is_dir() else []
    fewest, most = (case.kept, case.kept) if isinstance(case.kept, int) else case.kept
    assert fewest <= len(made) <= most, f"left in the output folder: {made}\n{shown}"
    assert not any(path.name.endswith(TEMP_MARKS) or path.name.startswith(".") for path in made), made
    assert sorted(ctx.cwd.iterdir()) == [], f"left in the working folder\n{shown}"
    assert _left_behind(tmp_path) == [], shown
    for path in case.absent:
        assert not Path(ctx.expand(path)).exists(), f"{path} exists: a payload ran\n{shown}"
    assert elapsed < case.time_limit, f"took {elapsed:.1f} s\n{shown}"
