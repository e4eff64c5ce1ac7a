"""`--dtype auto` on the CPU: bf16 exactly where the CPU computes bf16 natively, fp32 elsewhere."""

from __future__ import annotations

import pytest
import torch

from sdkit.runtime import device


@pytest.mark.parametrize(("native", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_on_cpu_follows_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: native)
    assert device.choose_dtype("auto", "cpu") is expected


def test_explicit_dtype_and_gpu_ignore_the_cpu(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert device.choose_dtype("fp32", "cpu") is torch.float32
    assert device.choose_dtype("auto", "cuda:0") is torch.float16
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert device.choose_dtype("bf16", "cpu") is torch.bfloat16


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse2 avx avx2 fma avx512f avx512_bf16", True),
    ("fpu sse2 avx avx2 fma f16c", False),  # AVX2 only: bf16 would be emulated, slower than fp32
])
def test_native_bf16_is_read_from_cpu_flags(monkeypatch, tmp_path, flags, expected):
    """The check reads the CPU through `sdkit.runtime.machine` (tests/runtime/test_machine.py has the flag rules)."""
    from sdkit.runtime import machine

    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n")
    monkeypatch.setattr(machine, "PROC", tmp_path)
    machine.cpu.cache_clear()
    try:
        assert device.cpu_has_native_bf16() is expected
        assert device.choose_dtype("auto", "cpu") is (torch.bfloat16 if expected else torch.float32)
    finally:
        machine.cpu.cache_clear()


def test_unknown_dtype_is_a_user_error():
    from sdkit.core.errors import UserInputError

    with pytest.raises(UserInputError, match="unknown dtype"):
        device.choose_dtype("fp8", "cpu")


@pytest.mark.parametrize("task", ["txt2img", "img2img"])
def test_bf16_on_the_cpu_keeps_the_vae_in_fp32(tiny_pipeline_dir, tmp_path, task):
    from PIL import Image

    from sdkit.run.events import NullEvents
    from sdkit.run.execute import load_model, run_images
    from sdkit.run.plan import make_plan

    flags = {"dtype": "bf16", "device": "cpu", "steps": 2, "seed": 7, "prompt": "a red square"}
    if task == "img2img":
        flags["image"] = str(tmp_path / "input.png")
        Image.new("RGB", (64, 64), (200, 40, 40)).save(flags["image"])
    plan = make_plan(task=task, model=str(tiny_pipeline_dir("sd1")), flags=flags)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model on a busy machine: one thread is much faster
    try:
        loaded = load_model(plan)
        dtypes = {name: next(loaded.components[name].parameters()).dtype for name in ("unet", "text_encoder", "vae")}
        assert dtypes == {"unet": torch.bfloat16, "text_encoder": torch.bfloat16, "vae": torch.float32}
        (generated,) = list(run_images(plan, NullEvents(), loaded=loaded))
    finally:
        torch.set_num_threads(threads)
    assert generated.image.size == (64, 64)
