"""One `sdkit serve` on the bundled demo model for the whole package (started once: the model loads once),
with small limits so the hostile-request tests can reach them cheaply."""

from __future__ import annotations

import threading

import pytest
from server_process import MAX_BODY_MB, MAX_PIXELS, MAX_QUEUE, MAX_STEPS, start_server


@pytest.fixture(scope="package")
def server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("serve"), "--max-body-mb", str(MAX_BODY_MB),
                           "--max-pixels", str(MAX_PIXELS), "--max-steps", str(MAX_STEPS),
                           "--max-queue", str(MAX_QUEUE))
    # Load the model now, in the server process, while the first test does its own work in this one.
    warm_up = threading.Thread(target=_first_request, args=(running,), daemon=True)
    warm_up.start()
    yield running
    warm_up.join(300)
    running.stop()


def _first_request(running) -> None:
    with running.client() as http:
        http.post("/sdapi/v1/txt2img", json={"prompt": "warm up", "steps": 1, "save_images": False})


@pytest.fixture
def client(server):
    with server.client() as http:
        yield http
