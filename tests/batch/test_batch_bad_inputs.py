"""Bad job files and flags: a message and a hint, exit 2, nothing run and no run folder made."""

from __future__ import annotations

import pytest
import yaml_bombs
from cli_helpers import run_sdkit

SIZE = "  width: 64\n  height: 64\n  steps: 2\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("- prompt: a\n  stpes: 3\n", "unknown job key 'stpes'; did you mean 'steps'"),
    ("- prompt: a\n" + SIZE + "- prompt: b\n  steps: many\n  cfg_scale: [2, lots]\n",
     "2 combination(s) cannot run"),
    ("- prompt: a __colours__\n" + SIZE, "unknown wildcard 'colours'"),
    ("- prompt: a\n  sampler: []\n" + SIZE, "sampler is an empty list"),
    ("- prompt: a\n  seed: 0-9999999\n" + SIZE, "the jobs make 10,000,000 images, more than 10,000"),
    ("- prompt: a\n  seed: 5-1\n" + SIZE, "runs backwards"),
    ("- prompt: a\n  count: 0\n" + SIZE, "count must be a whole number"),
    ("- prompt: a\n  sampler: {a: 1}\n" + SIZE, "sampler must be a value or a list of values"),
    ("- prompt: a\n  sampler: Eulr\n" + SIZE, "cannot run"),
    ("- prompt: a\n  batch_count: 4\n" + SIZE, "batch_count has no meaning in a batch job"),
    ("just text\n", "a job file is a list of jobs"),
    ("", "holds no jobs"),
    ("- prompt: [a\n", "not valid YAML"),
    ("jobs:\n" + "\n".join("  " + line for line in yaml_bombs.mapping_bomb().splitlines()), "values"),
], ids=["unknown-key", "wrong-types", "missing-wildcard", "empty-product", "huge-product", "seed-backwards",
        "count", "nested-value", "unknown-sampler", "batch-count", "not-a-list", "empty", "broken-yaml", "alias-bomb"])
def test_bad_job_file_is_refused_before_running(capsys, tmp_path, text, expected):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(text, encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--output-dir", tmp_path / "run")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_huge_product_passes_the_limit_with_yes(capsys, tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a\n  sampler: [Euler, Eulr]\n  seed: 1-6000\n" + SIZE, encoding="utf-8")
    refused = run_sdkit(capsys, "batch", jobs, "--dry-run")
    assert refused.exit_code == 2 and "12,000 images" in refused.stderr
    # With --yes the limit is passed, and the planning still finds the bad sampler.
    planned = run_sdkit(capsys, "batch", jobs, "--dry-run", "--yes")
    assert planned.exit_code == 2 and "cannot run" in planned.stderr and "Eulr" in planned.stderr


@pytest.mark.parametrize(("flags", "expected"), [
    (["--steps", "2,x"], "'x' is not a whole number"),
    (["--seed", "a-b"], "is not a seed"),
    (["--output-dir", ""], "output folder is empty"),
    (["--grid", "x=smapler"], "unknown grid parameter 'smapler'; did you mean 'sampler'"),
    (["--grid", "q=sampler"], "is not AXIS=PARAMETER"),
    (["--grid", "y=sampler"], "needs an x axis"),
])
def test_bad_flags(capsys, tmp_path, flags, expected):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a\n" + SIZE, encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--dry-run", *flags)
    assert result.exit_code == 2 and expected in result.stderr, result.output


def test_missing_and_unknown_job_files(capsys, tmp_path):
    missing = run_sdkit(capsys, "batch", tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    other = tmp_path / "jobs.txt"
    other.write_text("prompt: a\n", encoding="utf-8")
    unknown = run_sdkit(capsys, "batch", other)
    assert unknown.exit_code == 2 and "unknown job file type" in unknown.stderr


def test_every_prompt_a_wildcard_chooses_is_planned(capsys, tmp_path):
    (tmp_path / "wildcards").mkdir()
    (tmp_path / "wildcards" / "style.txt").write_text("plain\n<lora:nope:1>\n", encoding="utf-8")
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text("- prompt: a __style__ circle\n  seed: 1-6\n" + SIZE, encoding="utf-8")
    result = run_sdkit(capsys, "batch", jobs, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "unknown LoRA 'nope'" in result.stderr and "<lora:nope:1>" in result.stderr
