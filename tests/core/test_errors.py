"""The error family: exit codes, hints, did-you-mean."""

from sdkit.core.errors import Interrupted, RuntimeFailure, UnknownKeyError, UserInputError, closest_matches


def test_unknown_key_is_a_key_error_with_suggestions():
    error = UnknownKeyError("sampler", "dpmpp_2n", ["dpmpp_2m", "euler", "heun"])
    assert isinstance(error, KeyError) and isinstance(error, UserInputError)
    assert error.exit_code == 2
    assert error.suggestions == ["dpmpp_2m"]
    assert "unknown sampler 'dpmpp_2n'" in str(error) and "did you mean 'dpmpp_2m'" in str(error)
    assert "euler" in error.hint


def test_unknown_key_without_candidates_says_none_installed():
    assert UnknownKeyError("pipeline", "x", []).hint == "no pipeline is installed"


def test_exit_codes():
    assert RuntimeFailure("x").exit_code == 1
    assert Interrupted("x").exit_code == 130


def test_closest_matches_ignores_case():
    assert closest_matches("EULER", ["euler", "heun"]) == ["euler"]


def test_huge_values_are_quoted_short_and_fast():
    import time

    from sdkit.core.errors import Problem

    started = time.perf_counter()
    error = UnknownKeyError("sampler", "x" * 25_000, ["euler", "heun"])
    problem = Problem("prompt", "y" * 1_000_000, "must be shorter")
    assert time.perf_counter() - started < 0.5
    assert len(error.message) < 120 and error.message.startswith("unknown sampler 'xxx")
    assert len(problem.describe()) < 140 and "…" in problem.describe()
