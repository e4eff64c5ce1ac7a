"""The `realesrgan` engine through the engine contract: find_model, load, draw, memory refusal, light import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sdkit.core.errors import ParamsError, UserInputError
from sdkit.core.params import parse_params
from sdkit.core.tasks import Mode, Task
from sdkit.plugin import Batch, LoadOptions, NullStepEvents
from sdkit.registry import PIPELINES, registry


@pytest.fixture
def engine():
    return registry(PIPELINES).get("realesrgan")


@pytest.fixture
def input_png(tmp_path) -> str:
    path = tmp_path / "in.png"
    values = np.random.default_rng(9).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(values).save(path)
    return str(path)


class RecordingEvents(NullStepEvents):
    def __init__(self, stop_after: int | None = None) -> None:
        self.steps: list[tuple[int, int]] = []
        self.stop_after = stop_after

    def step_finished(self, step: int, steps: int) -> None:
        self.steps.append((step, steps))

    def should_stop(self) -> bool:
        return self.stop_after is not None and len(self.steps) >= self.stop_after


def test_engine_is_registered_with_its_task_and_defaults(engine):
    assert engine.name == "realesrgan"
    assert engine.tasks == {Task.UPSCALE} and engine.modes == {Mode.NORMAL}
    params = parse_params(engine, "upscale", {"image": "in.png"})
    assert (params.tile, params.tile_overlap, params.scale) == (512, 32, None)


def test_tile_not_larger_than_twice_the_overlap_is_refused(engine):
    with pytest.raises(ParamsError, match="tile_overlap"):
        parse_params(engine, "upscale", {"image": "in.png", "tile": 64, "tile_overlap": 32})


def batch_of(params):
    from sdkit.files.images import open_image

    return Batch(params, (), {"image": open_image(params.image)})


def loaded_x4(engine):
    ref = engine.find_model("RealESRGAN_x4plus")
    assert ref.family == "upscaler" and ref.name == "RealESRGAN_x4plus" and ref.path.is_file()
    return engine.load(ref, LoadOptions(device="cpu"))


def test_draw_returns_the_upscaled_image_with_metadata_and_tile_progress(engine, installed_x4, input_png):
    loaded = loaded_x4(engine)
    params = parse_params(engine, "upscale", {"image": input_png, "tile": 32, "tile_overlap": 8})
    events = RecordingEvents()
    images = engine.draw(loaded, batch_of(params), events)
    assert len(images) == 1
    assert images[0].image.size == (192, 160)
    assert images[0].infotext == {"Postprocess upscaler": "RealESRGAN_x4plus", "Postprocess upscale by": 4,
                                  "Postprocess upscaler tile": 32, "Postprocess upscaler tile overlap": 8}
    assert events.steps == [(1, 4), (2, 4), (3, 4), (4, 4)]  # 2x2 tiles


def test_stop_request_ends_the_run_without_an_image(engine, installed_x4, input_png):
    from sdkit.core.errors import Interrupted

    loaded = loaded_x4(engine)
    params = parse_params(engine, "upscale", {"image": input_png, "tile": 32, "tile_overlap": 8})
    events = RecordingEvents(stop_after=1)
    with pytest.raises(Interrupted):  # the CLI turns it into exit code 130
        engine.draw(loaded, batch_of(params), events)
    assert events.steps == [(1, 4)]


def test_huge_untiled_image_is_refused_with_a_tiling_hint(engine, installed_x4, input_png, monkeypatch):
    from sdkit.upscale import memory

    # the test model has 8 filters: 48x40 px at x4 needs ~3.4 MB by the estimate, one 32 px tile ~1.8 MB;
    # pretend only 1 MB is free
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1_000_000)
    loaded = loaded_x4(engine)
    untiled = parse_params(engine, "upscale", {"image": input_png, "tile": 0})
    with pytest.raises(UserInputError) as caught:
        engine.draw(loaded, batch_of(untiled), NullStepEvents())
    assert "untiled" in caught.value.message and "--tile" in caught.value.hint
    tiled = parse_params(engine, "upscale", {"image": input_png, "tile": 32, "tile_overlap": 8})
    monkeypatch.setattr(memory, "available_bytes", lambda device: 3_000_000)
    assert len(engine.draw(loaded, batch_of(tiled), NullStepEvents())) == 1


def test_memory_estimate_is_above_the_measured_esrgan_peak():
    from sdkit.upscale.memory import estimate_bytes

    # measured on the CPU, fp32, 64 filters: 12.5 kB per input pixel at x4, 4.1 kB at x2
    assert estimate_bytes(100, 100, 4) >= 12_500 * 100 * 100
    assert estimate_bytes(100, 100, 2) >= 4_100 * 100 * 100
    assert estimate_bytes(100, 100, 4) < 2 * 12_500 * 100 * 100  # and not wildly above


def test_importing_the_engine_and_upscale_api_loads_no_torch():
    code = ("import sys, sdkit.engines.realesrgan, sdkit.upscale; "
            "print(sorted(m for m in ('torch', 'spandrel', 'numpy', 'PIL') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_batch_shrinks_to_fit_before_anything_is_refused(monkeypatch):
    from sdkit.upscale import memory

    one_tile = memory.estimate_bytes(512, 512, 4)
    monkeypatch.setattr(memory, "available_bytes", lambda device: int(2.5 * one_tile / memory.SAFE_SHARE))
    assert memory.largest_batch_that_fits(2048, 2048, 4, "cuda", tile=512, most=4) == 2
    monkeypatch.setattr(memory, "available_bytes", lambda device: None)
    assert memory.largest_batch_that_fits(2048, 2048, 4, "cuda", tile=512, most=4) == 4
    assert memory.largest_batch_that_fits(2048, 2048, 4, "cpu", tile=0, most=4) == 1


def test_upscalers_are_found_by_their_engine_when_no_engine_is_named(installed_x4):
    from sdkit.run.choose import choose

    choice = choose(Task.UPSCALE, None, "RealESRGAN_x4plus")
    assert choice.entry.key == "realesrgan" and choice.model_ref.family == "upscaler"
