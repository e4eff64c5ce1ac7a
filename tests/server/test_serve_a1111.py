"""A1111-shaped requests to a real `sdkit serve` on the demo model: the images are those `sdkit generate`
makes with the same settings, the response has A1111's fields, every listed endpoint answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from cli_helpers import run_sdkit
from PIL import Image
from server_process import decoded, png_base64

from sdkit.outputs.infotext import read_png_parameters

PROMPT = "a red circle on a blue background"
TXT2IMG = {"prompt": PROMPT, "negative_prompt": "", "seed": 11, "steps": 4, "width": 64, "height": 64,
           "cfg_scale": 3, "sampler_name": "Euler a", "scheduler": "Karras", "batch_size": 2, "n_iter": 1,
           # what A1111 clients send on every request, meaning "nothing": no warning for these
           "restore_faces": False, "tiling": False, "subseed": -1, "subseed_strength": 0, "styles": [],
           "override_settings": {"CLIP_stop_at_last_layers": 1}}


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_txt2img_is_pixel_identical_to_generate_and_a1111_shaped(client, server, capsys, tmp_path):
    # the CLI first: the server loads its model meanwhile (conftest's warm-up request)
    cli = run_sdkit(capsys, "generate", "--prompt", PROMPT, "--seed", "11", "--steps", "4", "-W", "64", "-H", "64",
                    "--cfg-scale", "3", "--sampler", "Euler a", "--schedule", "karras", "--batch-size", "2",
                    "--output-dir", str(tmp_path), "--json")
    assert cli.exit_code == 0, cli.output
    cli_paths = [Path(image["path"]) for image in json.loads(cli.stdout)["images"]]
    response = client.post("/sdapi/v1/txt2img", json={**TXT2IMG, "tiling": True, "made_up_field": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"images", "parameters", "info"}
    assert isinstance(body["info"], str)  # A1111 sends info as a JSON string
    info = json.loads(body["info"])
    assert info["all_seeds"] == [11, 12] and info["seed"] == 11
    assert info["sampler_name"] == "Euler a" and info["scheduler"] == "Karras"
    assert info["sd_model_name"] == "sdkit-shapes" and info["width"] == 64 and info["steps"] == 4
    assert body["parameters"]["prompt"] == PROMPT and body["parameters"]["n_iter"] == 1
    assert len(info["warnings"]) == 2, info["warnings"]
    assert "tiling" in info["warnings"][0] and "made_up_field" in info["warnings"][1]

    assert len(body["images"]) == len(cli_paths) == 2
    for served, cli_path, infotext in zip(body["images"], cli_paths, info["infotexts"], strict=True):
        with Image.open(cli_path) as from_cli:
            assert np.array_equal(pixels(decoded(served)), pixels(from_cli))
        assert infotext == read_png_parameters(cli_path)  # the same A1111 infotext, inside the PNG too
    # saved as well, atomically numbered, with the same infotext
    saved = [Path(path) for path in info["images_saved"]]
    assert [path.parent for path in saved] == [server.output_dir / "txt2img"] * 2
    assert [read_png_parameters(path) for path in saved] == info["infotexts"]


def test_img2img_and_inpaint_take_a1111_fields(client):
    from sdkit.demo.shapes import Combo, draw_at

    start = draw_at(Combo("red", "circle", "blue"), 16, 16, 32, size=64)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    request = {"prompt": "a yellow square on a purple background", "seed": 3, "steps": 4, "cfg_scale": 3,
               "init_images": [png_base64(start)], "denoising_strength": 0.6, "save_images": False,
               "inpainting_fill": 0}
    response = client.post("/sdapi/v1/img2img", json=request)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert "Denoising strength: 0.6" in info["infotexts"][0] and "Mask blur" not in info["infotexts"][0]
    assert decoded(response.json()["images"][0]).size == (64, 64)  # the input's size, as A1111 keeps it
    assert info["images_saved"] == []  # save_images: false
    assert response.json()["parameters"]["init_images"] is None  # A1111 does not echo the inputs
    assert any("inpainting_fill" in warning for warning in info["warnings"])

    response = client.post("/sdapi/v1/img2img", json={**request, "mask": png_base64(mask), "mask_blur": 2})
    assert response.status_code == 200, response.text
    assert "Mask blur: 2" in json.loads(response.json()["info"])["infotexts"][0]


def test_options_switch_the_model_and_clip_skip(client):
    options = client.get("/sdapi/v1/options").json()
    assert options["sd_model_checkpoint"] == "sdkit-shapes" and options["CLIP_stop_at_last_layers"] == 1
    answer = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "sdkit-shapes",
                                                    "CLIP_stop_at_last_layers": 2, "show_progressbar": True})
    assert answer.status_code == 200 and answer.json()["ignored"] == ["show_progressbar"]
    try:
        response = client.post("/sdapi/v1/txt2img",
                               json={"prompt": PROMPT, "steps": 2, "seed": 1, "save_images": False})
        assert "Clip skip: 2" in json.loads(response.json()["info"])["infotexts"][0]
        refused = client.post("/sdapi/v1/options", json={"sd_model_checkpoint": "no-such-model"})
        assert refused.status_code == 422 and "sdkit-shapes" in refused.json()["hint"]
    finally:
        client.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})
    assert client.get("/v1/health").json()["loaded_models"] == 1  # switching to the same model loads nothing new


def test_listings_and_png_info(client):
    models = client.get("/sdapi/v1/sd-models").json()
    assert [model["title"] for model in models] == ["sdkit-shapes"] and "filename" in models[0]
    samplers = {sampler["name"] for sampler in client.get("/sdapi/v1/samplers").json()}
    assert {"Euler a", "DPM++ 2M", "DDIM"} <= samplers
    schedulers = {item["label"] for item in client.get("/sdapi/v1/schedulers").json()}
    assert {"Karras", "Uniform", "Exponential"} <= schedulers
    upscalers = {item["name"] for item in client.get("/sdapi/v1/upscalers").json()}
    assert {"None", "Lanczos", "Nearest"} <= upscalers
    assert client.get("/sdapi/v1/sd-vae").json() == []
    assert client.get("/sdapi/v1/loras").json() == []
    assert client.get("/sdapi/v1/embeddings").json() == {"loaded": {}, "skipped": {}}
    assert client.get("/sdapi/v1/memory").json()["ram"]["total"] > 0
    assert client.post("/sdapi/v1/refresh-checkpoints").status_code == 200
    idle = client.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["state"]["sampling_step"] == 0

    made = client.post("/sdapi/v1/txt2img", json={"prompt": PROMPT, "steps": 2, "seed": 5, "save_images": False})
    info = client.post("/sdapi/v1/png-info", json={"image": made.json()["images"][0]}).json()
    assert info["info"] == json.loads(made.json()["info"])["infotexts"][0]
    assert info["parameters"]["Prompt"] == PROMPT and info["parameters"]["Seed"] == "5"
    assert info["parameters"]["Size-1"] == "64"
    plain = client.post("/sdapi/v1/png-info", json={"image": png_base64(Image.new("RGB", (8, 8)))}).json()
    assert plain["info"] == ""


def test_extra_single_image_upscales(client, server):
    sys.path.insert(0, str(Path(__file__).parents[1] / "upscale"))
    from upscale_weights import write_basicsr_pth

    (server.models_dir / "upscale").mkdir(exist_ok=True)
    write_basicsr_pth(server.models_dir / "upscale" / "fast_x4.pth", blocks=1)  # the listing is read when asked
    image = Image.new("RGB", (16, 12), (200, 30, 30))
    assert "fast_x4" in {item["name"] for item in client.get("/sdapi/v1/upscalers").json()}
    response = client.post("/sdapi/v1/extra-single-image", json={"image": png_base64(image), "upscaler_1": "fast_x4"})
    assert response.status_code == 200, response.text
    assert decoded(response.json()["image"]).size == (32, 24)  # A1111's default upscaling_resize: 2
    assert "Postprocess upscaler: fast_x4" in response.json()["html_info"]
    response = client.post("/sdapi/v1/extra-single-image",
                           json={"image": png_base64(image), "upscaler_1": "Lanczos", "upscaling_resize": 2})
    assert response.status_code == 200, response.text
    assert decoded(response.json()["image"]).size == (32, 24)
    unknown = client.post("/sdapi/v1/extra-single-image", json={"image": png_base64(image), "upscaler_1": "4x-Nope"})
    assert unknown.status_code == 422 and "Lanczos" in unknown.json()["hint"]


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/v1/jobs", "/v1/jobs/{job_id}"} <= set(paths)


def test_variation_seeds_and_ensd_map_onto_generates_flags(client, capsys, tmp_path):
    request = {**TXT2IMG, "seed": 5, "batch_size": 2, "subseed": 40, "subseed_strength": 0.4,
               "seed_resize_from_w": 32, "seed_resize_from_h": 32, "save_images": False,
               "override_settings": {"eta_noise_seed_delta": 31337}}
    response = client.post("/sdapi/v1/txt2img", json=request)
    assert response.status_code == 200, response.text
    info = json.loads(response.json()["info"])
    assert info["warnings"] == []
    assert info["all_seeds"] == [5, 5] and info["all_subseeds"] == [40, 41] and info["subseed_strength"] == 0.4
    assert "ENSD: 31337" in info["infotexts"][0] and "Seed resize from: 32x32" in info["infotexts"][0]
    cli = run_sdkit(capsys, "generate", "--prompt", PROMPT, "--seed", "5", "--steps", "4", "-W", "64", "-H", "64",
                    "--cfg-scale", "3", "--sampler", "Euler a", "--schedule", "karras", "--batch-size", "2",
                    "--variation-seed", "40", "--variation-strength", "0.4", "--seed-resize-from", "32x32",
                    "--ensd", "31337", "--output-dir", str(tmp_path), "--json")
    assert cli.exit_code == 0, cli.output
    for served, image in zip(response.json()["images"], json.loads(cli.stdout)["images"], strict=True):
        with Image.open(image["path"]) as from_cli:
            assert np.array_equal(pixels(decoded(served)), pixels(from_cli))


def test_options_take_ensd_and_refuse_a_bad_one(client):
    try:
        assert client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 31337}).status_code == 200
        assert client.get("/sdapi/v1/options").json()["eta_noise_seed_delta"] == 31337
        refused = client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": -5})
        assert refused.status_code == 422 and "eta_noise_seed_delta" in refused.text
    finally:
        client.post("/sdapi/v1/options", json={"eta_noise_seed_delta": 0})
