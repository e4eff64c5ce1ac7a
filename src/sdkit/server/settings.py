"""What `sdkit serve` was started with, checked before anything heavy is imported."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from sdkit.core.errors import UserInputError

LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    credentials: tuple[tuple[str, str], ...] = ()  # (user, password) pairs of --api-auth
    models_dir: Path | None = None
    output_dir: Path | None = None  # None: the config's output_dir, else ./outputs (as `generate`)
    max_loaded: int = 1
    max_queue: int = 16
    max_body_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 2048 * 2048
    max_steps: int = 150
    max_images: int = 16  # batch_size x n_iter of one request
    save_images: bool = True  # A1111's default for API requests is not to save; sdkit's config says

    @property
    def auth_required(self) -> bool:
        return bool(self.credentials)

    def check(self) -> None:
        """Refuse settings that cannot work or would expose the server without a password."""
        if not 0 <= self.port <= 65535:
            raise UserInputError(f"--port {self.port} is not a TCP port",
                                 "give a port from 1 to 65535 (0: any free one)")
        if not is_loopback(self.host) and not self.credentials:
            raise UserInputError(
                f"--host {self.host} would let other machines reach the server without a password",
                "add --api-auth USER:PASS, or keep the default --host 127.0.0.1")
        for name, value in (("--max-loaded", self.max_loaded), ("--max-queue", self.max_queue)):
            if value < 0:
                raise UserInputError(f"{name} {value} is negative", f"give {name} 0 (no limit) or more")
        for name, value in (("--max-body-mb", self.max_body_bytes), ("--max-pixels", self.max_pixels),
                            ("--max-steps", self.max_steps)):
            if value <= 0:
                raise UserInputError(f"{name} must be more than 0", f"give {name} a positive limit")
        if self.models_dir is not None and not self.models_dir.expanduser().is_dir():
            raise UserInputError(f"--models-dir {self.models_dir} is not a folder",
                                 "give the folder that holds your models")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_api_auth(text: str) -> tuple[tuple[str, str], ...]:
    """`USER:PASS[,USER2:PASS2]` as (user, password) pairs; messages never repeat a password."""
    pairs = []
    for index, part in enumerate(text.split(","), start=1):
        user, colon, password = part.strip().partition(":")
        if not colon or not user or not password:
            raise UserInputError(f"--api-auth: entry {index} is not USER:PASS",
                                 "give --api-auth USER:PASS, or several as USER:PASS,USER2:PASS2")
        pairs.append((user, password))
    return tuple(pairs)
