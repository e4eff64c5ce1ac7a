"""The model's σ table and A1111's schedules, against closed forms and the reference's DDIM lists."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sdkit.sampling import sigmas as schedules
from sdkit.sampling.sigmas import SigmaTable

SD_CONFIG = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "num_train_timesteps": 1000}


@pytest.fixture(scope="module")
def table() -> SigmaTable:
    return SigmaTable.from_scheduler_config(SD_CONFIG)


def test_the_table_is_the_closed_form_of_the_beta_schedule(table):
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    alphas_cumprod = np.cumprod(1 - betas).astype(np.float32)
    assert np.array_equal(table.alphas_cumprod.numpy(), alphas_cumprod)
    assert np.allclose(table.sigmas.numpy(), np.sqrt((1 - alphas_cumprod) / alphas_cumprod), rtol=1e-6)
    # SD 1.x's well-known ends.
    assert table.sigma_min == pytest.approx(0.0292, abs=1e-4) and table.sigma_max == pytest.approx(14.6146, abs=1e-4)
    linear = SigmaTable.from_scheduler_config({**SD_CONFIG, "beta_schedule": "linear"})
    expected = np.cumprod(1 - np.linspace(0.00085, 0.012, 1000)).astype(np.float32)
    assert np.array_equal(linear.alphas_cumprod.numpy(), expected)
    with pytest.raises(ValueError, match="squaredcos"):
        SigmaTable.from_scheduler_config({**SD_CONFIG, "beta_schedule": "squaredcos_cap_v2"})


def test_sigma_and_t_are_log_linear_inverses_without_rounding(table):
    integer_steps = torch.tensor([0.0, 1.0, 500.0, 999.0])
    assert torch.allclose(table.sigma_to_t(table.t_to_sigma(integer_steps)), integer_steps, atol=1e-3)
    # Halfway in t is halfway in log σ.
    halfway = table.t_to_sigma(torch.tensor(10.5))
    assert float(halfway) == pytest.approx(math.sqrt(float(table.sigmas[10]) * float(table.sigmas[11])), rel=1e-6)
    fractional = table.sigma_to_t(halfway)
    assert float(fractional) == pytest.approx(10.5, abs=1e-3)
    # Beyond the ends: clamped to the table.
    assert float(table.sigma_to_t(torch.tensor(100.0))) == 999.0
    assert float(table.sigma_to_t(torch.tensor(0.001))) == 0.0


def test_automatic_discretization_walks_t_from_999_to_0_then_0(table):
    sigmas = schedules.discretization_sigmas(table, 15)
    assert len(sigmas) == 16 and float(sigmas[-1]) == 0.0
    assert float(sigmas[0]) == pytest.approx(table.sigma_max, rel=1e-6)
    assert float(sigmas[-2]) == pytest.approx(table.sigma_min, rel=1e-6)
    expected_t = np.linspace(999, 0, 15)
    assert np.allclose(table.sigma_to_t(sigmas[:-1]).numpy(), expected_t, atol=2e-3)


def test_karras_and_exponential_closed_forms(table):
    low, high = table.sigma_min, table.sigma_max
    karras = schedules.karras_sigmas(10, low, high).double().numpy()
    ramp = np.linspace(0, 1, 10)
    expected = (high ** (1 / 7) + ramp * (low ** (1 / 7) - high ** (1 / 7))) ** 7
    assert np.allclose(karras[:-1], expected, rtol=1e-5) and karras[-1] == 0
    exponential = schedules.exponential_sigmas(10, low, high).double().numpy()
    assert np.allclose(exponential[:-1], np.exp(np.linspace(math.log(high), math.log(low), 10)), rtol=1e-5)
    assert np.allclose(schedules.polyexponential_sigmas(10, low, high).numpy(),
                       schedules.exponential_sigmas(10, low, high).numpy(), rtol=1e-5)
    kl = schedules.kl_optimal_sigmas(10, low, high).double().numpy()
    assert len(kl) == 11 and kl[0] == pytest.approx(high, rel=1e-5) and kl[-1] == pytest.approx(low, rel=1e-5)
    assert np.allclose(np.arctan(kl), np.linspace(math.atan(high), math.atan(low), 11), atol=1e-6)


def test_table_based_schedules_pick_table_entries(table):
    simple = schedules.simple_sigmas(table, 10)
    assert torch.equal(simple[:-1], table.sigmas[[999 - 100 * k for k in range(10)]])
    ddim = schedules.ddim_uniform_sigmas(table, 10)
    assert torch.equal(ddim[:-1], table.sigmas[[901 - 100 * k for k in range(10)]])
    normal = schedules.normal_sigmas(table, 10)
    assert float(normal[0]) == pytest.approx(table.sigma_max, rel=1e-5)
    assert float(normal[-2]) == pytest.approx(table.sigma_min, rel=1e-4)
    sgm = schedules.sgm_uniform_sigmas(table, 10)  # 11 points from t=999 to t=0, the last dropped
    assert np.allclose(table.sigma_to_t(sgm[:-1]).numpy(), np.linspace(999, 0, 11)[:-1], atol=2e-2)
    beta = schedules.beta_sigmas(10, table.sigma_min, table.sigma_max)
    assert float(beta[0]) == pytest.approx(table.sigma_max, rel=1e-6)
    assert float(beta[-2]) == pytest.approx(table.sigma_min, rel=1e-6)


@pytest.mark.parametrize("schedule_id", schedules.SCHEDULE_IDS)
def test_every_schedule_falls_strictly_and_has_its_ends(table, schedule_id):
    sigmas = schedules.schedule_sigmas(schedule_id, table, 12)
    # A1111's DDIM schedule type takes every (1000 // n)-th entry while below 1000: 13 for n = 12.
    expected_steps = len(range(1, 1000, 1000 // 12)) if schedule_id == "ddim_uniform" else 12
    assert sigmas.dtype == torch.float32 and len(sigmas) == expected_steps + 1
    assert torch.all(sigmas[1:] < sigmas[:-1])
    assert float(sigmas[0]) <= table.sigma_max * (1 + 1e-5)
    if schedule_id == "kl_optimal":
        assert float(sigmas[-1]) == pytest.approx(table.sigma_min, rel=1e-5)
    else:
        assert float(sigmas[-1]) == 0.0


def test_unknown_schedule_names_what_exists(table):
    with pytest.raises(ValueError, match="karras"):
        schedules.schedule_sigmas("align_your_steps", table, 10)


def test_a1111_ddim_timesteps_from_the_reference():
    fifteen = schedules.ddim_timesteps(15)
    assert len(fifteen) == 16 and fifteen[:3] == [1, 67, 133] and fifteen[-1] == 991
    assert fifteen == [66 * k + 1 for k in range(16)]
    ten = schedules.ddim_timesteps(10)
    assert ten == [1, 101, 201, 301, 401, 501, 601, 701, 801, 901]
    assert schedules.ddim_timesteps(1000)[-1] == 999 and schedules.ddim_timesteps(1000)[0] == 1
