"""A1111 syntax sdkit does not do is named, not silently encoded as words."""

from __future__ import annotations

import json

from cli_helpers import run_sdkit

from sdkit.prompts.unsupported import unsupported_syntax


def test_composable_and_is_found_only_as_a_capitalised_word():
    assert unsupported_syntax("a cat AND a dog")
    assert unsupported_syntax("(a cat:1.2)AND[a dog]")
    for plain in ("a cat and a dog", "ANDROID on a SANDBANK", "a cat, an AND_gate"):
        assert unsupported_syntax(plain) == [], plain


def test_sdkit_prompt_and_generate_warn_about_and(capsys, tmp_path):
    described = run_sdkit(capsys, "prompt", "a cat AND a dog", "--json")
    assert json.loads(described.stdout)["unsupported"] == unsupported_syntax("AND")
    made = run_sdkit(capsys, "generate", "a red circle AND a blue square", "--steps", "1", "--seed", "1",
                     "-o", str(tmp_path / "out"))
    assert made.exit_code == 0, made.output
    assert "AND (A1111's composable diffusion) is not supported" in made.stderr
