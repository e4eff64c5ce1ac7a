"""Start `sdkit serve` as a real process on a free loopback port, and stop it the way a user would."""

from __future__ import annotations

import base64
import io
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

# The limits the package's shared server runs with (conftest.py); the tests name them.
MAX_BODY_MB = 1
MAX_PIXELS = 512 * 512
MAX_STEPS = 60
MAX_QUEUE = 12


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    url: str
    output_dir: Path
    home: Path
    models_dir: Path
    log_path: Path

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=300, **kwargs)  # a cold model load on a busy machine

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager sends it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def start_server(folder: Path, *args: str, auth: tuple[str, str] | None = None,
                 timeout: float = 120) -> RunningServer:
    """`python -m sdkit serve --port N ARGS` with its own home, models folder and output folder."""
    home, models, output = folder / "home", folder / "models", folder / "outputs"
    models.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "server.log"
    env = {**os.environ, "SDKIT_HOME": str(home), "SDKIT_MODELS_DIR": str(models), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sdkit", "serve", "--port", str(port), "--output-dir", str(output), *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    server = RunningServer(process, f"http://127.0.0.1:{port}", output, home, models, log_path)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=5, auth=auth) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"sdkit serve exited with {process.returncode}:\n{server.log_text()}")
            try:
                if client.get("/v1/health").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"sdkit serve did not answer within {timeout} s:\n{server.log_text()}")


def png_base64(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def decoded(text: str):
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(text))) as image:
        image.load()
        return image.copy()
