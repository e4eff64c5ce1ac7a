"""Finding LoRA files (folder casing, names, paths, did-you-mean), their A1111 hash, their format and family."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from sdkit.core.errors import UnknownKeyError, UserInputError
from sdkit.networks.lora_files import addnet_hash, find_lora, find_lora_by_hash, lora_folder
from sdkit.networks.lora_formats import check_family, read_lora_info
from sdkit.networks.lora_use import (
    option_tag,
    parse_hashes_field,
    parse_lora_option,
    prompt_with_tags,
    requested_loras,
)


def kohya(path, layers, extra=None, rank=2):
    """A kohya LoRA with `layers` {kohya name: (out, in)}, random values."""
    rng = np.random.default_rng(0)
    tensors = {}
    for name, (out_features, in_features) in layers.items():
        tensors[f"{name}.lora_down.weight"] = rng.standard_normal((rank, in_features)).astype(np.float32)
        tensors[f"{name}.lora_up.weight"] = rng.standard_normal((out_features, rank)).astype(np.float32)
        tensors[f"{name}.alpha"] = np.array(1.0, dtype=np.float32)
    tensors.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


ATTN2 = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
TE_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"


@pytest.mark.parametrize("folder_name", ["Lora", "lora", "LoRA"])
def test_names_are_found_case_insensitively_in_the_lora_folder_in_any_casing(tmp_path, folder_name):
    folder = tmp_path / "models" / folder_name
    made = kohya(folder / "styles" / "Film_Grain.safetensors", {ATTN2: (8, 8)})
    assert lora_folder() == folder
    assert find_lora("film_grain") == made and find_lora("STYLES/film_grain") == made
    assert find_lora(str(made)) == made  # a path works too
    peft = tmp_path / "trained" / "run_1"
    peft.mkdir(parents=True)
    (peft / "pytorch_lora_weights.safetensors").write_bytes(b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        assert find_lora("trained/run_1") == Path("trained/run_1")  # a relative path to a diffusers folder


def test_an_unknown_name_suggests_the_close_ones(tmp_path):
    kohya(tmp_path / "models" / "Lora" / "add_detail.safetensors", {ATTN2: (8, 8)})
    with pytest.raises(UnknownKeyError) as caught:
        find_lora("add_detial")
    assert "did you mean 'add_detail'" in caught.value.message and caught.value.exit_code == 2
    with pytest.raises(UserInputError, match="does not exist"):
        find_lora(str(tmp_path / "nowhere.safetensors"))


def test_the_hash_is_a1111s_sha256_of_the_bytes_after_the_header_and_is_cached(tmp_path):
    path = kohya(tmp_path / "models" / "Lora" / "known.safetensors", {ATTN2: (8, 8)})
    raw = path.read_bytes()
    (header_length,) = struct.unpack("<Q", raw[:8])
    expected = hashlib.sha256(raw[8 + header_length:]).hexdigest()[:12]
    assert expected != hashlib.sha256(raw).hexdigest()[:12]  # the header is left out, as A1111 does
    assert addnet_hash(path) == expected
    assert (tmp_path / "sdkit-home").rglob("lora-hashes.json")
    assert find_lora_by_hash(expected.upper()) == path and find_lora_by_hash("0" * 12) is None


@pytest.mark.parametrize(("layers", "family"), [
    ({ATTN2: (320, 768)}, "sd1"), ({ATTN2: (320, 1024)}, "sd2"), ({TE_Q: (768, 768)}, "sd1"),
    ({"lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k": (640, 2048)}, "sdxl"),
    ({"lora_te2_text_model_encoder_layers_0_self_attn_q_proj": (16, 16)}, "sdxl"),
    ({ATTN2: (8, 8)}, None),  # a tiny test LoRA says no family: the engine checks its layers instead
])
def test_the_family_is_read_from_names_and_widths(tmp_path, layers, family):
    info = read_lora_info(kohya(tmp_path / "x.safetensors", layers))
    assert (info.format, info.family) == ("lora", family)


def test_formats_are_told_apart_and_others_refused_by_name(tmp_path):
    conv = {"lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight": np.zeros((2, 8, 3, 3), np.float32),
            "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight": np.zeros((8, 2, 1, 1), np.float32)}
    assert read_lora_info(kohya(tmp_path / "locon.safetensors", {ATTN2: (8, 8)}, conv)).format == "locon"
    for name, keys, expected in [("loha", ("hada_w1_a", "hada_w1_b"), "loha"), ("lokr", ("lokr_w1",), "lokr")]:
        path = tmp_path / f"{name}.safetensors"
        save_file({f"{ATTN2}.{key}": np.zeros((2, 2), np.float32) for key in keys}, str(path))
        assert read_lora_info(path).format == expected
    diffusers = tmp_path / "peft"
    diffusers.mkdir()
    save_file({"unet.mid_block.attentions.0.proj_in.lora_A.weight": np.zeros((2, 8), np.float32)},
              str(diffusers / "pytorch_lora_weights.safetensors"))
    assert read_lora_info(diffusers).format == "diffusers"
    oft = tmp_path / "oft.safetensors"
    save_file({f"{ATTN2}.oft_blocks": np.zeros((2, 2), np.float32)}, str(oft))
    with pytest.raises(UserInputError, match="an OFT file"):
        read_lora_info(oft)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(UserInputError, match="not valid JSON"):
        read_lora_info(broken)
    pickled = tmp_path / "old.pt"
    pickled.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(UserInputError, match="pickled LoRA"):
        read_lora_info(pickled)


def test_a_lora_of_another_family_is_refused_with_both_named(tmp_path):
    info = read_lora_info(kohya(tmp_path / "xl.safetensors", {"lora_te2_text_model_encoder_layers_0_mlp_fc1": (4, 4)}))
    with pytest.raises(UserInputError) as caught:
        check_family(info, "xl", "sd1", "dreamshaper")
    assert "made for SDXL models" in caught.value.message and "dreamshaper is SD 1.x" in caught.value.message
    check_family(info, "xl", "sdxl", "juggernaut")  # its own family is fine


def test_lora_options_read_like_tags_and_become_a1111_tags():
    tag = parse_lora_option("detail:-0.5")
    assert (tag.name, tag.text_encoder_weight, tag.unet_weight) == ("detail", -0.5, -0.5)
    assert parse_lora_option("detail").unet_weight == 1.0
    [lyco, flag] = requested_loras("a <lyco:old_style:0.3> fox", ["detail:2"])  # `lyco` is the old LyCORIS tag
    assert (lyco.name, lyco.unet_weight, flag.name, flag.unet_weight) == ("old_style", 0.3, "detail", 2.0)
    assert option_tag("detail:1.5") == "<lora:detail:1.5>" and option_tag("detail:0.5:1") == "<lora:detail:0.5:1>"
    assert option_tag("/some/where/Film.safetensors:0.7") == "<lora:Film:0.7>"
    assert prompt_with_tags("a fox ", ["detail:0.7"]) == "a fox <lora:detail:0.7>"
    for bad, words in [("detail:lots", "'lots' in --lora detail:lots is not a number"), ("", "names no LoRA"),
                       ("<lora:x>", "not a prompt tag")]:
        with pytest.raises(UserInputError, match=words):
            parse_lora_option(bad)
    assert parse_hashes_field("add_detail: 7C6BAD76EB54, b: 0123456789ab") == {
        "add_detail": "7c6bad76eb54", "b": "0123456789ab"}


def test_sdkit_prompt_names_the_file_of_each_tag(capsys, tmp_path):
    from cli_helpers import run_sdkit

    made = kohya(tmp_path / "models" / "Lora" / "Film_Grain.safetensors", {ATTN2: (8, 8)})
    result = run_sdkit(capsys, "prompt", "a fox <lora:film_grain:0.5> <lora:nope>", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["loras"]
    assert found == [{"name": "film_grain", "weight": 0.5, "unet_weight": 0.5, "file": str(made)},
                     {"name": "nope", "weight": 1.0, "unet_weight": 1.0, "file": None}]


def test_dry_run_checks_loras_without_importing_torch(tmp_path):
    import subprocess
    import sys

    kohya(tmp_path / "models" / "Lora" / "style.safetensors", {ATTN2: (8, 8)})
    code = ("import sys; sys.modules['torch'] = None; sys.modules['diffusers'] = None\n"  # importing them would fail
            "from sdkit.cli.app import main\n"
            "main(['generate', 'a fox <lora:style:0.5>', '--lora', 'style:-1', '--dry-run', '--json'])")
    env = {"SDKIT_HOME": str(tmp_path / "home"), "SDKIT_MODELS_DIR": str(tmp_path / "models"), "PATH": "/usr/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["params"]["loras"] == ["style:-1"]
    missing = subprocess.run([sys.executable, "-c", code.replace("style:-1", "stlye")], capture_output=True,
                             text=True, env=env, timeout=120)
    assert missing.returncode == 2 and "did you mean 'style'" in missing.stderr
