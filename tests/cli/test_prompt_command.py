"""`sdkit prompt`: the emphasis runs, chunks, token count, LoRA tags and schedule, without a UNet."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_helpers import run_sdkit, run_sdkit_process

PROMPT = "a (red:1.4) circle, [blue] background BREAK <lora:detail:0.7> [cat:dog:0.5]"


def test_json_gives_runs_chunks_count_loras_and_schedule(capsys, sdkit_home):
    result = run_sdkit(capsys, "prompt", PROMPT, "--steps", "10", "--json")
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["runs"][:6] == [["a ", 1.0], ["red", 1.4], [" circle, ", 1.0], ["blue", 1 / 1.1],
                                      [" background", 1.0], ["BREAK", -1.0]]
    assert described["model"] == "sdkit-shapes" and described["window"] == 14
    assert len(described["chunks"]) == 2 and all(len(chunk["tokens"]) == 16 for chunk in described["chunks"])
    assert described["chunks"][0]["weights"][2] == 1.4  # start token, "a", then "red"
    assert described["loras"] == [{"name": "detail", "weight": 0.7, "unet_weight": 0.7, "file": None}]
    assert [until for until, _ in described["schedule"]] == [5, 10]
    assert described["schedule"][0][1].endswith(" cat") and described["schedule"][1][1].endswith(" dog")


def test_the_table_prints_text_as_text_and_loads_no_torch(tmp_path):
    code = ("import runpy, sys\nsys.argv = ['sdkit', 'prompt', 'a :dog: [x] \\x1b[31mred']\n"
            "try:\n    runpy.run_module('sdkit', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'heavy import'\n")
    script = tmp_path / "run.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SDKIT_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert ":dog:" in done.stdout and "\x1b" not in done.stdout and "\\x1b" in done.stdout


def test_a_bad_lora_weight_is_bad_input(capsys, sdkit_home):
    result = run_sdkit(capsys, "prompt", "<lora:detail:lots>")
    assert result.exit_code == 2 and "'lots' in <lora:detail:lots> is not a number" in result.stderr


def test_an_engine_without_a_tokenizer_model_is_refused_by_its_name():
    result = run_sdkit_process("prompt", "x", "--model", "no/such-model")
    assert result.exit_code == 2 and "Traceback" not in result.stderr
