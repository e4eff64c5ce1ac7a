"""`--api-auth`: HTTP basic auth on every endpoint, no credentials in any log; and the flags that keep a
server from being exposed by mistake."""

from __future__ import annotations

import httpx
import pytest
from cli_helpers import run_sdkit
from server_process import start_server

USERS = [("alice", "s3cret-Pass"), ("bob", "an0ther-one")]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    auth = ",".join(f"{user}:{password}" for user, password in USERS)
    running = start_server(tmp_path_factory.mktemp("serve-auth"), "--api-auth", auth, auth=USERS[0])
    yield running
    running.stop()


def test_every_endpoint_needs_credentials_when_auth_is_on(guarded):
    with guarded.client() as anonymous:
        for method, path in [("GET", "/v1/health"), ("GET", "/sdapi/v1/sd-models"), ("POST", "/sdapi/v1/txt2img"),
                             ("GET", "/docs"), ("GET", "/openapi.json"), ("POST", "/v1/jobs")]:
            refused = anonymous.request(method, path, json={})
            assert refused.status_code == 401, (method, path)
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert refused.json()["error"] == "Unauthorized"
    for wrong in [("alice", "wrong"), ("mallory", USERS[0][1]), ("alice", USERS[1][1])]:
        with guarded.client(auth=wrong) as intruder:
            assert intruder.get("/v1/health").status_code == 401
    for user in USERS:
        with guarded.client(auth=user) as allowed:
            assert allowed.get("/sdapi/v1/sd-models").status_code == 200
    malformed = httpx.get(guarded.url + "/v1/health", headers={"Authorization": "Basic !!!"})
    assert malformed.status_code == 401
    logged = guarded.log_text() + "".join(path.read_text(errors="replace")
                                          for path in guarded.home.rglob("*") if path.is_file())
    assert "refused a request" in logged  # refusals are logged ...
    assert all(password not in logged for _, password in USERS)  # ... but never a password


def test_auth_off_needs_no_credentials(client):
    assert client.get("/v1/health").status_code == 200


def test_serve_refuses_exposing_flags(capsys, monkeypatch):
    exposed = run_sdkit(capsys, "serve", "--host", "0.0.0.0")
    assert exposed.exit_code == 2 and "--api-auth" in exposed.stderr
    malformed = run_sdkit(capsys, "serve", "--api-auth", "alice")
    assert malformed.exit_code == 2 and "USER:PASS" in malformed.stderr
    negative = run_sdkit(capsys, "serve", "--max-queue", "-1")
    assert negative.exit_code == 2 and "--max-queue" in negative.stderr
    # Without the server extra: the install hint, before the flags are even looked at (--port 70000).
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "fastapi" else real_find_spec(name, *rest))
    missing = run_sdkit(capsys, "serve", "--port", "70000")
    assert missing.exit_code == 2 and "pip install 'sdkit-cli[server]'" in missing.stderr
