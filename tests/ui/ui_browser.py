"""A real UI process and headless Chromium for the browser tests, kept off the network.

`UiProcess` runs `sdkit ui` (or `sdkit serve --ui`) as its own process on a free loopback port with its
own SDKIT_HOME, models folder and working folder (where `outputs/` goes). The browser is Debian's
chromium driven by Playwright (no browser download), with the flags that keep it off the network.
Without chromium or Playwright the tests skip saying so, except under CI, where they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Everything but loopback resolves to nothing, and the background services that phone home are off.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--disable-features=AutofillServerCommunication,OptimizationHints,MediaRouter",
]
VIEWPORT = {"width": 1440, "height": 900}
STARTUP_SECONDS = 180  # a busy 2-core machine imports gradio and torch slowly
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
# Set to 1 to copy one screenshot of each kind into docs/images (for docs/ui.md).
UPDATE_DOCS_ENV = "SDKIT_UPDATE_UI_SCREENSHOTS"


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing: install Debian's chromium package (tools/setup --dev does, as root)"
    for module in ("playwright", "gradio"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install -e '.[dev]'"
    return None


def require_browser() -> None:
    """Skip the calling module when the browser tests cannot run here; under CI, fail instead."""
    problem = browser_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI, but {problem}", pytrace=False)
    pytest.skip(problem, allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UiProcess:
    """`sdkit <command...> --port P` in its own home; `restart` runs it again on the same home."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.home = folder / "sdkit-home"
        self.models = folder / "models"
        self.work = folder / "work"
        self.work.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.log_path = folder / "ui.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def user_presets(self) -> Path:
        return self.home / "config" / "presets"

    @property
    def state_file(self) -> Path:
        return self.home / "state" / "state.json"

    @property
    def outputs(self) -> Path:
        return self.work / "outputs"

    def start(self, *command: str) -> None:
        self.port = free_port()
        env = dict(os.environ, SDKIT_HOME=str(self.home), SDKIT_MODELS_DIR=str(self.models), OMP_NUM_THREADS="1",
                   HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
        log = self.log_path.open("a")
        self.process = subprocess.Popen([sys.executable, "-m", "sdkit", *command, "--port", str(self.port)],
                                        cwd=self.work, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"sdkit {' '.join(command)} exited {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"sdkit {' '.join(command)} did not answer on {self.url}:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def field(page, key: str):
    """The input of a form field (`steps`, `prompt`, ...)."""
    return page.locator(f"#sdkit-{key} input, #sdkit-{key} textarea").first


def choose(page, elem_id: str, option: str) -> None:
    """Pick `option` in a gradio dropdown."""
    box = page.locator(f"#{elem_id} input").first
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def toast(page, text: str):
    """The notification that holds `text`."""
    return page.locator(".toast-body", has_text=text).first


def close_toasts(page) -> None:
    for button in page.locator(".toast-close").all():
        if button.is_visible():
            button.click()


def screenshot(page, folder: Path, kind: str) -> Path:
    """A screenshot of the page into the test's folder; with SDKIT_UPDATE_UI_SCREENSHOTS=1 also docs/images."""
    time.sleep(0.6)  # toasts slide in
    path = folder / f"ui-{kind}.png"
    page.screenshot(path=str(path))
    if os.environ.get(UPDATE_DOCS_ENV) == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)
    return path


def value_pattern(text: str) -> re.Pattern:
    return re.compile(re.escape(text))
