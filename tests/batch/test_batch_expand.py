"""Job files expanded without drawing: products, seed ranges, dynamic prompts and wildcards (seed-stable)."""

from __future__ import annotations

import json

from cli_helpers import run_sdkit


def _dry_run(capsys, job_file, *flags):
    result = run_sdkit(capsys, "batch", job_file, "--dry-run", "--json", *flags)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_lists_sweep_as_their_product_and_seed_ranges_name_every_seed(capsys, tmp_path):
    jobs = _write(tmp_path / "jobs.yaml", "- prompt: a circle\n  sampler: [Euler, Euler a]\n  cfg_scale: [2, 5, 7]\n"
                                          "  steps: 2\n  width: 64\n  height: 64\n")
    described = _dry_run(capsys, jobs, "--seed", "1-3,9")
    combos = {(row["sampler"], row["cfg_scale"], row["seed"]) for row in described["combinations"]}
    assert described["images"] == 2 * 3 * 4 == len(combos)
    assert combos == {(s, c, seed) for s in ("Euler", "Euler a") for c in (2, 5, 7) for seed in (1, 2, 3, 9)}
    assert described["loads"] == 1
    # A comma-list flag replaces the job's list for every job; count makes seed, seed+1, ...
    described = _dry_run(capsys, jobs, "--sampler", "Euler", "--steps", "2,3", "--seed", "5")
    assert {(row["cfg_scale"], row["steps"], row["seed"]) for row in described["combinations"]} == {
        (c, s, 5) for c in (2, 5, 7) for s in (2, 3)}
    counted = _write(tmp_path / "count.yaml", "- prompt: a\n  count: 3\n  seed: 10\n  width: 64\n  height: 64\n")
    assert [row["seed"] for row in _dry_run(capsys, counted)["combinations"]] == [10, 11, 12]


def test_json_lines_and_csv_job_files(capsys, tmp_path):
    jsonl = _write(tmp_path / "jobs.jsonl", '{"prompt": "a", "steps": [2, 3], "width": 64, "height": 64, "seed": 1}\n'
                                            '\n{"prompt": "b", "width": 64, "height": 64, "seed": 2}\n')
    assert [(r["prompt"], r.get("steps")) for r in _dry_run(capsys, jsonl)["combinations"]] == [
        ("a", 2), ("a", 3), ("b", None)]  # None: the engine's default
    csv_file = _write(tmp_path / "jobs.csv", 'prompt,steps,cfg_scale,width,height,seed\n'
                                             '"a fox, in snow",2,3.5,64,64,4\nb,,,64,64,5\n')
    rows = _dry_run(capsys, csv_file)["combinations"]
    assert [(r["prompt"], r.get("steps"), r.get("cfg_scale"), r["seed"]) for r in rows] == [
        ("a fox, in snow", 2, 3.5, 4), ("b", None, None, 5)]  # an empty cell is not given


def test_wildcards_and_variants_depend_only_on_the_seed(capsys, tmp_path):
    wildcards = tmp_path / "wildcards"
    (wildcards / "nested").mkdir(parents=True)
    _write(wildcards / "colours.txt", "red\ngreen\nblue\nyellow\n__nested/shade__\n")
    _write(wildcards / "nested" / "shade.txt", "dark teal\n")
    jobs = _write(tmp_path / "jobs.yaml", "- prompt: a __colours__ {cat|dog|owl} with {2$$hat|scarf|cane}\n"
                                          "  width: 64\n  height: 64\n  seed: 1-40\n")
    first = [row["prompt"] for row in _dry_run(capsys, jobs)["combinations"]]
    again = [row["prompt"] for row in _dry_run(capsys, jobs)["combinations"]]
    assert first == again  # the same file gives the same prompts on every run
    assert all("__" not in p and "{" not in p for p in first)
    assert len(set(first)) > 10  # the seeds choose differently
    assert any("dark teal" in p for p in first)  # a wildcard inside a wildcard file
    # An image's prompt depends on its seed alone, not on the other seeds of the run.
    alone = _dry_run(capsys, jobs, "--seed", "17")["combinations"][0]["prompt"]
    assert alone == first[16]
    everything = _dry_run(capsys, jobs, "--combinatorial", "--seed", "1")
    assert everything["images"] == 5 * 3 * 6 == len({row["prompt"] for row in everything["combinations"]})
