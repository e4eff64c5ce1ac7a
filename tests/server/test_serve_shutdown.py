"""SIGTERM to `sdkit serve` while a job is drawing: the server stops at the next step, answers the waiting
client, exits 0, and the output folder holds only whole images. Runs last: it stops the shared server."""

from __future__ import annotations

import threading
import time

from PIL import Image

from sdkit.files.atomic import TEMP_PREFIX
from sdkit.outputs.infotext import read_png_parameters


def test_sigterm_with_a_job_running_leaves_no_partial_file(server):
    answers: list = []

    def wait_for_images():
        with server.client() as http:
            answers.append(http.post("/sdapi/v1/txt2img", json={"prompt": "a white triangle", "seed": 4, "steps": 50,
                                                                "batch_size": 2, "n_iter": 3, "save_images": True}))

    waiting = threading.Thread(target=wait_for_images)
    waiting.start()
    with server.client() as client:
        deadline = time.monotonic() + 120
        while client.get("/sdapi/v1/progress").json()["state"]["sampling_step"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert server.stop() == 0
    waiting.join(60)
    assert answers and answers[0].status_code == 200  # the waiting client got its answer, not a reset
    assert '"sdkit_state": "interrupted"' in answers[0].json()["info"]
    leftovers = [path for path in server.output_dir.rglob("*") if path.name.startswith(TEMP_PREFIX)]
    assert leftovers == []
    for path in server.output_dir.rglob("*.png"):
        with Image.open(path) as image:
            image.load()  # whole, not truncated
        assert "Seed:" in read_png_parameters(path)
    assert "sdkit serve: stopped" in server.log_text()
