"""Fixtures for the upscale tests: tiny ESRGAN weight files, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from upscale_weights import write_basicsr_pth, write_old_style_pth, write_safetensors


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Run these tests' torch work on one thread, and put the setting back afterwards.

    On a 2-core machine shared with other jobs, two torch threads wait on each other: a 12x16 upscale
    took 1.4 s with 2 threads against 0.024 s with 1 (measured). Outputs do not depend on it.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def weight_files(tmp_path_factory) -> dict[str, Path]:
    """One file per layout users meet; the x4 files share their weights, so their outputs must agree."""
    import torch

    folder = tmp_path_factory.mktemp("upscale-weights")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see one_torch_thread; this fixture is set up before it
    try:
        return _write_all(folder)
    finally:
        torch.set_num_threads(threads)


def _write_all(folder: Path) -> dict[str, Path]:
    return {
        "x4plus_pth": write_basicsr_pth(folder / "RealESRGAN_x4plus.pth", blocks=2),
        "x4plus_params": write_basicsr_pth(folder / "params_x4.pth", wrapper="params", blocks=2),
        "x4plus_safetensors": write_safetensors(folder / "RealESRGAN_x4plus.safetensors", blocks=2),
        "old_style": write_old_style_pth(folder / "4x_old_esrgan.pth", blocks=2),
        "anime_6b": write_basicsr_pth(folder / "RealESRGAN_x4plus_anime_6B.pth", blocks=6),
        "x2plus": write_basicsr_pth(folder / "RealESRGAN_x2plus.pth", scale=2, unshuffle=2),
        "fast_x4": write_basicsr_pth(folder / "fast_x4.pth", blocks=1),
    }


@pytest.fixture
def upscale_folder(sdkit_home) -> Path:
    """The per-test `<models>/upscale` folder (SDKIT_MODELS_DIR is private to each test)."""
    from sdkit.upscale.files import upscale_models_dir

    folder = upscale_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def installed_x4(weight_files, upscale_folder) -> Path:
    """The fast x4 model installed in the models folder as `RealESRGAN_x4plus.pth`."""
    target = upscale_folder / "RealESRGAN_x4plus.pth"
    target.write_bytes(weight_files["fast_x4"].read_bytes())
    return target
