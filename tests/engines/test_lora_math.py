"""Each format's layers change the model by exactly what the format defines, at the weight the prompt gives.

After `sdkit generate` drew with a LoRA, its adapters stay set on the loaded model until the next draw, so the
change a wrapped layer makes can be read off it (the layer applied to the identity) and held against the
formula computed here from the file's own tensors:
- kohya LoRA: up @ down * alpha / rank;
- LyCORIS LoHa: (w1_a @ w1_b) * (w2_a @ w2_b) * alpha / rank;
- LyCORIS LoKr: kron(w1, w2_a @ w2_b) * alpha / rank;
each times the tag's weight (the text encoder's weight for text-encoder layers, the UNet's for UNet layers).
"""

from __future__ import annotations

import json

import pytest
import torch
from cli_helpers import run_sdkit
from lora_files import write_loha, write_lokr, write_lora
from safetensors.torch import load_file

from sdkit.demo import DEMO_MODEL_DIR
from sdkit.run import execute

UNET_LAYER = "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v"
TEXT_LAYER = "encoder.layers.1.mlp.fc1"
KOHYA = {"unet": "lora_unet_" + UNET_LAYER.replace(".", "_"),
         "text_encoder": "lora_te_text_model_" + TEXT_LAYER.replace(".", "_")}


def expected_delta(tensors, name, lora_format):
    alpha = float(tensors[f"{name}.alpha"])
    if lora_format == "lora":
        down, up = tensors[f"{name}.lora_down.weight"], tensors[f"{name}.lora_up.weight"]
        return up @ down * alpha / down.shape[0]
    if lora_format == "loha":
        w1 = tensors[f"{name}.hada_w1_a"] @ tensors[f"{name}.hada_w1_b"]
        w2 = tensors[f"{name}.hada_w2_a"] @ tensors[f"{name}.hada_w2_b"]
        return w1 * w2 * alpha / tensors[f"{name}.hada_w1_b"].shape[0]
    w2_b = tensors[f"{name}.lokr_w2_b"]
    return torch.kron(tensors[f"{name}.lokr_w1"], tensors[f"{name}.lokr_w2_a"] @ w2_b) * alpha / w2_b.shape[0]


def observed_delta(layer):
    """What a wrapped Linear adds to its original layer's output, as a weight matrix (out x in)."""
    identity = torch.eye(layer.base_layer.in_features)
    with torch.inference_mode():
        return (layer(identity) - layer.base_layer(identity)).T


@pytest.mark.parametrize(("lora_format", "writer"), [("lora", write_lora), ("loha", write_loha), ("lokr", write_lokr)])
def test_the_change_of_a_layer_is_the_formats_formula_times_the_weight(capsys, tmp_path, monkeypatch, lora_format,
                                                                         writer):
    folder = tmp_path / "models" / "Lora"
    path = writer(DEMO_MODEL_DIR, folder / f"{lora_format}.safetensors", seed=9)
    monkeypatch.setattr(execute, "_loaded_models", {})
    result = run_sdkit(capsys, "generate", f"a red circle <lora:{lora_format}:0.6:-1.5>", "--steps", "1",
                       "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"]
    [loaded] = execute._loaded_models.values()
    tensors = load_file(str(path))
    for part, module, weight in (("unet", UNET_LAYER, -1.5), ("text_encoder", TEXT_LAYER, 0.6)):
        layer = loaded.components[part].get_submodule(module)
        expected = expected_delta(tensors, KOHYA[part], lora_format) * weight
        assert expected.abs().max() > 1e-3  # a change worth measuring
        assert torch.allclose(observed_delta(layer), expected, atol=1e-5, rtol=1e-4), (part, lora_format)
