"""Bad and hostile requests to `sdkit serve`: each one a 4xx in A1111's error shape with a message and a
hint, never a 500, never a crash, never a file written anywhere (the limits are conftest's)."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from server_process import MAX_BODY_MB, MAX_STEPS, png_base64

SMALL = {"prompt": "a red circle", "steps": 2, "seed": 1}


def files_under(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()
            and "home" not in path.relative_to(folder).parts[:1]}


def truncated_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()[:60]).decode()


HOSTILE = [
    ("/sdapi/v1/txt2img", {**SMALL, "width": 512, "height": 512, "batch_size": 2}, "limit of 262,144 pixels"),
    ("/sdapi/v1/txt2img", {**SMALL, "steps": MAX_STEPS + 1}, "over this server's limit"),
    ("/sdapi/v1/txt2img", {**SMALL, "steps": 40, "enable_hr": True, "hr_scale": 1.5}, "80 steps"),
    ("/sdapi/v1/txt2img", {**SMALL, "n_iter": 17}, "at most 16"),
    ("/sdapi/v1/txt2img", {**SMALL, "width": 70000}, "width=70000"),
    ("/sdapi/v1/txt2img", {**SMALL, "steps": "many"}, "steps: Input should be a valid integer"),
    ("/sdapi/v1/txt2img", {**SMALL, "override_settings": {"sd_model_checkpoint": "../../etc/passwd"}}, "is a path"),
    ("/sdapi/v1/txt2img", {**SMALL, "override_settings": {"sd_model_checkpoint": "/etc/passwd"}}, "is a path"),
    ("/sdapi/v1/txt2img", {**SMALL, "override_settings": {"sd_vae": "/etc/passwd"}}, "is a path"),
    ("/sdapi/v1/txt2img", {**SMALL, "prompt": "a cat <lora:/etc/passwd:1>"}, "is a path"),
    ("/sdapi/v1/txt2img", {**SMALL, "prompt": "a cat <lora:../../secret:1>"}, "is a path"),
    ("/sdapi/v1/txt2img", {**SMALL, "enable_hr": True, "hr_upscaler": "/tmp/evil.pth"}, "is a path"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": [base64.b64encode(b"not an image").decode()]},
     "not a readable image"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": ["@@@ not base64 @@@"]}, "not valid base64"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": [truncated_png()]}, "not a readable image"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": []}, "init_images is empty"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": [png_base64(Image.new("RGB", (64, 64)))], "mask": "AAAA"},
     "mask is not a readable image"),
    ("/sdapi/v1/img2img", {**SMALL, "init_images": [png_base64(Image.new("RGB", (600, 600)))]}, "server's limit"),
    ("/sdapi/v1/extra-single-image", {"image": png_base64(Image.new("RGB", (8, 8))), "upscaler_1": "../../x.pth"},
     "is a path"),
    ("/sdapi/v1/png-info", {"image": "%%%"}, "not valid base64"),
    ("/sdapi/v1/options", {"sd_model_checkpoint": "C:/Windows/../../x"}, "is a path"),
    ("/v1/jobs", {"params": {**SMALL, "image": "/etc/passwd"}}, "takes no file paths"),
    ("/v1/jobs", {"params": SMALL, "preset": "/etc/evil.yaml"}, "unknown preset"),
    ("/v1/jobs", {"params": {**SMALL, "loras": ["/etc/passwd:1"]}}, "is a path"),
    ("/v1/jobs", {"params": {**SMALL, "hires_scale": 2, "hires_prompt": "x <lora:/etc/passwd:1>"}}, "is a path"),
    ("/v1/jobs", {"params": SMALL, "model": "../../../root"}, "is a path"),
    ("/v1/jobs", {"params": SMALL, "output_dir": "/tmp"}, "Extra inputs are not permitted"),
]


def test_each_hostile_request_is_refused_cleanly(client, server):
    before = files_under(server.output_dir.parent)
    for path, body, expected in HOSTILE:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        answer = response.json()
        assert {"error", "detail", "body", "errors"} <= set(answer), answer
        assert expected in answer["errors"], (path, body, answer)
        if answer["error"] != "RequestValidationError":
            assert answer["hint"], answer
    assert client.post("/sdapi/v1/txt2img", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    assert files_under(server.output_dir.parent) == before  # nothing written, in the output folder or elsewhere
    assert client.get("/v1/health").json()["status"] == "ok"


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused_before_it_is_read(client, chunked):
    big = b'{"prompt": "' + b"x" * (MAX_BODY_MB * 1024 * 1024 + 1) + b'"}'
    content = iter([big[:1000], big[1000:]]) if chunked else big  # an iterator is sent chunked, no length
    response = client.post("/sdapi/v1/txt2img", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge" and "--max-body-mb" in response.json()["hint"]
