"""The queue behind `sdkit serve`: sdkit's /v1 jobs, many clients at once, a full queue, cancel,
interrupt and skip while a job is drawing."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from server_process import MAX_QUEUE, decoded

PROMPT = "a yellow square on a purple background"


def wait_for(predicate, timeout: float = 120, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_v1_jobs_run_return_their_images_and_presets_are_listed(client, server):
    presets = {preset["name"] for preset in client.get("/v1/presets").json()}
    assert "txt2img/basic" in presets
    submitted = client.post("/v1/jobs", json={"preset": "txt2img/basic",
                                              "params": {"prompt": PROMPT, "steps": 2, "seed": 7, "batch_count": 2}})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    done = wait_for(lambda: (view := client.get(f"/v1/jobs/{job_id}").json())["state"] == "done" and view)
    assert done["progress"] == 1 and [image["seed"] for image in done["images"]] == [7, 8]
    assert all(image["path"].startswith(str(server.output_dir)) for image in done["images"])
    png = client.get(f"/v1/jobs/{job_id}/images/1")
    assert png.headers["content-type"] == "image/png" and decoded_bytes(png.content).size == (64, 64)
    assert job_id in {job["id"] for job in client.get("/v1/jobs").json()}
    assert client.get("/v1/jobs/nope").status_code == 404
    refused = client.post("/v1/jobs", json={"params": {"stpes": 2}})
    assert refused.status_code == 422 and "stpes" in refused.json()["detail"]


def decoded_bytes(content: bytes):
    import base64

    return decoded(base64.b64encode(content).decode())


def test_ten_clients_three_requests_each_all_come_back_right(server):
    def one_client(client_index: int) -> list[tuple[int, str, list[int]]]:
        results = []
        with server.client() as http:
            for request_index in range(3):
                seed = 1000 + client_index * 10 + request_index
                prompt = f"client {client_index} request {request_index}"
                response = http.post("/sdapi/v1/txt2img", json={"prompt": prompt, "seed": seed, "steps": 1,
                                                                "save_images": False})
                assert response.status_code == 200, response.text
                info = json.loads(response.json()["info"])
                results.append((seed, info["prompt"], info["all_seeds"], info["sdkit_job"]))
        return results

    with ThreadPoolExecutor(10) as pool:
        results = [result for batch in pool.map(one_client, range(10)) for result in batch]
    assert len(results) == 30
    assert len({job for *_, job in results}) == 30  # none lost, none answered twice
    for seed, prompt, seeds, _ in results:
        client_index, request_index = divmod(seed - 1000, 10)
        assert prompt == f"client {client_index} request {request_index}" and seeds == [seed]


def test_a_full_queue_answers_503_and_cancelled_jobs_never_run(client):
    long_job = {"params": {"prompt": PROMPT, "steps": 40, "seed": 1}, "save": False}
    running = client.post("/v1/jobs", json=long_job).json()["id"]
    wait_for(lambda: client.get(f"/v1/jobs/{running}").json()["state"] == "running")
    queued = [client.post("/v1/jobs", json=long_job).json()["id"] for _ in range(MAX_QUEUE)]
    full = client.post("/v1/jobs", json=long_job)
    assert full.status_code == 503 and int(full.headers["Retry-After"]) >= 1
    assert full.json()["error"] == "QueueFull" and "--max-queue" in full.json()["hint"]
    assert client.get(f"/v1/jobs/{queued[-1]}").json()["position"] == MAX_QUEUE - 1
    for job_id in [*queued, running]:
        assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    states = [client.get(f"/v1/jobs/{job_id}").json()["state"] for job_id in queued]
    assert states == ["cancelled"] * MAX_QUEUE
    wait_for(lambda: client.get(f"/v1/jobs/{running}").json()["state"] == "cancelled")
    assert client.get(f"/v1/jobs/{queued[0]}").json()["started_at"] is None


def test_interrupt_and_skip_while_drawing(server, client):
    def txt2img_in_background(request, answers):
        with server.client() as http:
            answers.append(http.post("/sdapi/v1/txt2img", json=request))

    def steps_running(at_least: int, image: int = 0):
        state = client.get("/sdapi/v1/progress").json()
        return state["state"]["job_no"] == image and state["state"]["sampling_step"] >= at_least and state

    request = {"prompt": PROMPT, "seed": 21, "steps": 30, "n_iter": 3, "save_images": True}
    answers: list = []
    worker = threading.Thread(target=txt2img_in_background, args=(request, answers))
    worker.start()
    progress = wait_for(lambda: steps_running(2))
    assert 0 < progress["progress"] < 1 and progress["state"]["sampling_steps"] == 30
    assert progress["eta_relative"] > 0
    client.post("/sdapi/v1/skip")  # drops the first image, goes on with the second
    wait_for(lambda: steps_running(2, image=1))
    client.post("/sdapi/v1/interrupt")  # stops the second: the third is never drawn
    worker.join(120)
    info = json.loads(answers[0].json()["info"])
    assert answers[0].status_code == 200 and info["sdkit_state"] == "interrupted"
    assert answers[0].json()["images"] == [] and info["all_seeds"] == []
    assert info["images_saved"] == []  # nothing half-drawn was written
