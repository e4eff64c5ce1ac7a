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


def test_a_trailing_number_after_a_colon_is_named_as_a1111s_composable_weight():
    # A1111 v1.10's re_weight (run in a scratch harness): "red circle :1.5" is the text "red circle" with
    # weight 1.5 on the guidance; "ratio 16:9" is "ratio 16" with weight 9.
    [warning] = unsupported_syntax("red circle :1.5")
    assert "ends in ':1.5'" in warning and "guidance × 1.5" in warning
    assert "guidance × 9" in unsupported_syntax("ratio 16:9 ")[0]
    for plain in ("(red:1.5)", "a [b:c:3]", "ratio 16:9, wide", "red circle"):
        assert unsupported_syntax(plain) == [], plain


def test_sdkit_prompt_and_generate_warn_about_and(capsys, tmp_path):
    described = run_sdkit(capsys, "prompt", "a cat AND a dog", "--json")
    assert json.loads(described.stdout)["unsupported"] == unsupported_syntax("AND")
    made = run_sdkit(capsys, "generate", "a red circle AND a blue square", "--steps", "1", "--seed", "1",
                     "-o", str(tmp_path / "out"))
    assert made.exit_code == 0, made.output
    assert "AND (A1111's composable diffusion) is not supported" in made.stderr
