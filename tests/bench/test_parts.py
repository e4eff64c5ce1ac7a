"""`sdkit benchmark unet|vae`: shapes from the bundled family configs, settings timed and compared with fp32."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from cli_helpers import run_sdkit

from sdkit.bench import parts
from sdkit.core.errors import UserInputError
from sdkit.models.family_configs import CONFIGS_DIR


def test_the_families_and_sizes_come_from_the_bundled_configs():
    assert {"sd1", "sd2", "sd2-v", "sdxl", "sd1-inpaint"} <= set(parts.families())
    assert {family: parts.native_size(family) for family in ("sd1", "sd2", "sd2-v", "sdxl")} == {
        "sd1": 512, "sd2": 512, "sd2-v": 768, "sdxl": 1024}


@pytest.mark.parametrize(("family", "channels", "context"), [("sd1", 4, 768), ("sd2", 4, 1024), ("sdxl", 4, 2048),
                                                             ("sd1-inpaint", 9, 768)])
def test_unet_inputs_have_the_familys_shapes(family, channels, context):
    (sample, timestep), kwargs = parts.part_inputs(family, "unet", 512, 2)
    assert sample.shape == (2, channels, 64, 64)
    assert timestep.ndim == 0
    assert kwargs["encoder_hidden_states"].shape == (2, parts.TEXT_TOKENS, context)
    assert ("added_cond_kwargs" in kwargs) is family.startswith("sdxl")


def test_sdxl_pooled_embedding_matches_its_second_text_encoder():
    _, kwargs = parts.part_inputs("sdxl", "unet", 1024, 2)
    encoder = json.loads((CONFIGS_DIR / "sdxl" / "text_encoder_2" / "config.json").read_text())
    assert kwargs["added_cond_kwargs"]["text_embeds"].shape == (2, encoder["projection_dim"])
    assert kwargs["added_cond_kwargs"]["time_ids"].tolist() == [[1024, 1024, 0, 0, 1024, 1024]] * 2


def test_vae_inputs_are_latents():
    (latents,), kwargs = parts.part_inputs("sd1", "vae", 256, 1)
    assert latents.shape == (1, 4, 32, 32) and kwargs == {}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"family": "sd9"}, "no bundled unet config for family 'sd9'"),
    ({"settings": ("fp32", "fp64")}, "unknown settings: fp64"),
    ({"size": 500}, "--size 500 is not a multiple of 8"),
    ({"part": "text_encoder"}, "unknown model part"),
    ({"repeats": 0}, "--repeats must be at least 1"),
])
def test_bad_configs_are_user_errors(overrides, message):
    with pytest.raises(UserInputError, match=message):
        parts.PartBenchConfig(**overrides).check()


def _tiny_unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=32,
    ).eval()


def test_settings_are_timed_interleaved_and_compared_with_fp32():
    generator = torch.Generator().manual_seed(1)
    args = (torch.randn(2, 4, 8, 8, generator=generator), torch.tensor(500))
    kwargs = {"encoder_hidden_states": torch.randn(2, 7, 32, generator=generator)}
    messages: list[str] = []
    rows = parts.time_settings(_tiny_unet(), "unet", args, kwargs, ("fp32", "bf16", "fp32+cl"), (1,),
                               repeats=2, warmup=1, progress=messages.append)
    assert [(row.setting, row.threads) for row in rows] == [("fp32", 1), ("bf16", 1), ("fp32+cl", 1)]
    for row in rows:
        assert len(row.seconds) == len(row.cpu_seconds) == 2  # the warm-up call is not among them
        assert row.first_call_s > 0 and all(seconds > 0 for seconds in row.seconds)
    assert len(messages) == 9  # three rounds of three settings
    # The second round runs in reverse order.
    assert [message.split(": ")[1].split()[0] for message in messages[3:6]] == ["fp32+cl", "bf16", "fp32"]
    fp32, bf16, channels_last = (row.psnr_vs_fp32_db for row in rows)
    assert math.isinf(fp32)
    assert 20 < bf16 < 80  # bf16 keeps 8 bits of mantissa: close to fp32, not equal
    assert channels_last > bf16  # the same fp32 arithmetic in another memory order


def test_the_part_modules_are_light():
    code = ("import sys, sdkit.bench.parts, sdkit.bench.upscale, sdkit.bench.timing; "
            "print(sorted(m for m in ('torch', 'diffusers', 'numpy', 'PIL') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_a_full_size_vae_decode_through_the_cli(capsys, tmp_path):
    json_file = tmp_path / "vae.json"
    result = run_sdkit(capsys, "benchmark", "vae", "--size", "64", "--settings", "fp32,fp32+cl", "--repeats", "1",
                       "--warmup", "0", "--threads", "1", "--json", json_file)
    assert result.exit_code == 0, result.output
    assert "sd1 vae (84 M parameters" in result.stdout and "fp32+cl" in result.stdout
    report = json.loads(json_file.read_text())
    assert (report["family"], report["part"], report["size"], report["batch"]) == ("sd1", "vae", 64, 1)
    assert report["parameters"] == pytest.approx(83.65e6, rel=0.01)  # the real SD VAE's size
    assert [row["setting"] for row in report["rows"]] == ["fp32", "fp32+cl"]
    assert report["rows"][0]["psnr_vs_fp32_db"] == math.inf
    assert report["rows"][1]["psnr_vs_fp32_db"] > 80
    assert report["machine"]["cpu"]


def test_an_unknown_setting_on_the_cli_is_a_user_error(capsys):
    result = run_sdkit(capsys, "benchmark", "unet", "--settings", "fp16+cl")
    assert result.exit_code == 2
    assert "unknown settings: fp16+cl" in result.stderr and "hint:" in result.stderr
