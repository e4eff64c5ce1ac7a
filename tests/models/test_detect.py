"""Family, inpainting and prediction type are read from tensor names/shapes and from folder configs."""

from __future__ import annotations

import json
import shutil

import pytest
from tiny_models import _clip_to_ldm, _open_clip_to_ldm, _unet_to_ldm

from sdkit.core.errors import UserInputError
from sdkit.core.models import Family
from sdkit.models.checkpoint import read_shapes
from sdkit.models.detect import detect_diffusers_folder, detect_single_file
from sdkit.models.family_configs import CONFIGS_DIR


@pytest.mark.parametrize(("family", "inpainting", "prediction", "expected_prediction", "guessed"), [
    ("sd1", False, "epsilon", "epsilon", ()),
    ("sd1", True, "epsilon", "epsilon", ()),
    ("sd2", False, "v_prediction", "v_prediction", ("prediction_type",)),
    ("sd2", True, "epsilon", "epsilon", ()),
    ("sdxl", False, "epsilon", "epsilon", ()),
    ("sdxl", True, "epsilon", "epsilon", ()),
])
def test_single_files_are_recognised_from_their_tensors(tiny_single_file, family, inpainting, prediction,
                                                        expected_prediction, guessed):
    path = tiny_single_file(family, inpainting=inpainting, prediction_type=prediction)
    detection = detect_single_file(read_shapes(path), path)
    assert detection.family is Family(family)
    assert detection.inpainting is inpainting
    assert detection.prediction_type == expected_prediction
    assert detection.guessed == guessed


def test_sd2_prediction_type_comes_from_an_a1111_yaml_beside_the_file(tiny_single_file, tmp_path):
    path = tmp_path / "sd2-base.safetensors"
    shutil.copy(tiny_single_file("sd2", prediction_type="v_prediction"), path)
    path.with_suffix(".yaml").write_text("model:\n  params:\n    parameterization: eps\n", encoding="utf-8")
    detection = detect_single_file(read_shapes(path), path)
    assert (detection.prediction_type, detection.guessed) == ("epsilon", ())
    path.with_suffix(".yaml").write_text('model:\n  params:\n    parameterization: "v"\n', encoding="utf-8")
    detection = detect_single_file(read_shapes(path), path)
    assert (detection.prediction_type, detection.guessed) == ("v_prediction", ())


def test_a_v_pred_marker_tensor_means_v_prediction(tiny_single_file, tmp_path):
    shapes = read_shapes(tiny_single_file("sdxl"))
    shapes["v_pred"] = ()
    assert detect_single_file(shapes, tmp_path / "x.safetensors").prediction_type == "v_prediction"


@pytest.mark.parametrize(("family", "inpainting", "prediction"), [
    ("sd1", False, "epsilon"), ("sd1", True, "epsilon"), ("sd2", False, "v_prediction"), ("sdxl", True, "epsilon"),
])
def test_diffusers_folders_are_recognised_from_their_configs(tiny_pipeline_dir, family, inpainting, prediction):
    detection = detect_diffusers_folder(tiny_pipeline_dir(family, inpainting=inpainting, prediction_type=prediction))
    assert (detection.family, detection.inpainting, detection.prediction_type) == (Family(family), inpainting,
                                                                                    prediction)


def test_a_diffusers_folder_of_another_pipeline_is_refused(tmp_path):
    folder = tmp_path / "flux"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}), encoding="utf-8")
    with pytest.raises(UserInputError) as caught:
        detect_diffusers_folder(folder)
    assert "FluxPipeline" in caught.value.message and str(folder) in caught.value.message


def _full_size_shapes(variant: str) -> dict[str, tuple[int, ...]]:
    """LDM tensor shapes of a real-size model built from a bundled config on the meta device."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = CONFIGS_DIR / variant
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(unet_config)
        encoders = {}
        for name in ("text_encoder", "text_encoder_2"):
            if (folder / name).is_dir():
                config = CLIPTextConfig.from_pretrained(folder / name)
                model_class = CLIPTextModelWithProjection if name == "text_encoder_2" else CLIPTextModel
                encoders[name] = model_class(config).state_dict()
    state = _unet_to_ldm(unet.state_dict(), unet_config)
    if "text_encoder_2" in encoders:
        state.update(_clip_to_ldm(encoders["text_encoder"], "conditioner.embedders.0.transformer."))
        state.update(_open_clip_to_ldm(encoders["text_encoder_2"], "conditioner.embedders.1.model."))
    elif unet_config.get("use_linear_projection"):
        state.update(_open_clip_to_ldm(encoders["text_encoder"], "cond_stage_model.model."))
    else:
        state.update(_clip_to_ldm(encoders["text_encoder"], "cond_stage_model.transformer."))
    state["first_stage_model.decoder.conv_in.weight"] = state["model.diffusion_model.input_blocks.0.0.weight"]
    return {key: tuple(value.shape) for key, value in state.items()}


@pytest.mark.parametrize(("variant", "family", "inpainting", "diffusers_type", "known"), [
    ("sd1", Family.SD1, False, "v1", {
        "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320, 1, 1),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768)}),
    ("sd1-inpaint", Family.SD1, True, "inpainting", {
        "model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}),
    ("sd2-v", Family.SD2, False, "v2", {
        "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight": (3072, 1024)}),
    ("sdxl", Family.SDXL, False, "xl_base", {
        "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
        "model.diffusion_model.input_blocks.7.1.transformer_blocks.9.attn2.to_k.weight": (1280, 2048),
        "conditioner.embedders.1.model.text_projection": (1280, 1280),
        "conditioner.embedders.1.model.transformer.resblocks.31.mlp.c_fc.weight": (5120, 1280)}),
])
def test_bundled_configs_have_the_layout_of_real_checkpoints(tmp_path, variant, family, inpainting,
                                                              diffusers_type, known):
    """Tensors a real checkpoint of the family has, with their real shapes, come out of the bundled config;
    sdkit's detector and diffusers' own agree on what such a file is."""
    import torch
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    shapes = _full_size_shapes(variant)
    for key, shape in known.items():
        assert shapes[key] == shape, key
    detection = detect_single_file(shapes, tmp_path / f"{variant}.safetensors")
    assert (detection.family, detection.inpainting) == (family, inpainting)
    as_meta = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    assert infer_diffusers_model_type(as_meta) == diffusers_type
