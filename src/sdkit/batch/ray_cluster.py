"""Ray for one `sdkit batch --executor ray` run: a private local instance, or a connection to a cluster.

Ray is an optional extra, imported here only; without it the run stops with the install line. A local
instance (no `--address`) binds to 127.0.0.1, starts no dashboard, sends no usage statistics, keeps
its files in a fresh temporary folder (removed afterwards) and authenticates with a token made for
this process and kept in its environment (which Ray's processes inherit), so nothing lands in the
home folder (Ray's default would write `~/.ray/auth_token`). Ray reads these settings when it is
imported, so they are set before the import, once per process, and left in place (a second
instance in the same process needs the same ones). With `--address`, the cluster's own settings apply.
Ray replaces the process's SIGTERM handler when it connects; sdkit's own (Ctrl-C and SIGTERM stop a
run cleanly, exit 130) are put back.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sdkit.core.errors import RuntimeFailure, UserInputError

log = logging.getLogger(__name__)

RAY_INSTALL = "pip install 'sdkit-cli[ray]'"
# Environment of a private local instance (and of the processes it starts).
LOCAL_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0"}
TOKEN_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def check_ray_installed() -> None:
    """A `UserInputError` with the install line when Ray is missing (without importing it: see above)."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        found = False
    if not found:
        raise UserInputError("--executor ray needs Ray, which is not installed here", f"install it with: {RAY_INSTALL}")


def import_ray() -> Any:
    """The `ray` module, or a `UserInputError` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise UserInputError(f"--executor ray needs Ray, which is not installed here ({error})",
                             f"install it with: {RAY_INSTALL}") from None
    return ray


def _prepare_local_environment() -> None:
    """Settings for a private local instance, in the environment before Ray is imported (see above)."""
    os.environ.update(LOCAL_ENVIRONMENT)
    if os.environ.get("RAY_AUTH_MODE"):
        return  # set already: by the user, or by an earlier instance of this process
    if "ray" in sys.modules:
        # Imported by someone else before: Ray has read its settings, and a token set now would reach
        # its own processes but not this one. No token, rather than one in the home folder.
        log.info("Ray was imported before sdkit set it up: the local instance runs without token authentication")
        os.environ["RAY_AUTH_MODE"] = "disabled"
    else:
        os.environ["RAY_AUTH_MODE"] = "token"
        if not any(os.environ.get(name) for name in TOKEN_VARIABLES):
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)


@contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Put back the SIGINT and SIGTERM handlers that `ray.init` replaces."""
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None:
                try:
                    signal.signal(sig, handler)
                except ValueError:  # not the main thread: nothing was replaced
                    pass


class RayCluster:
    """A connection to Ray for the length of a `with` block; a local instance is started and stopped with it."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.requested_address = address
        self.num_cpus = num_cpus
        self.temp_dir: str | None = None
        self.ray: Any = None
        self._owned = False  # this block connected (a library caller may have connected before)

    @property
    def local(self) -> bool:
        return self.requested_address is None

    def __enter__(self) -> RayCluster:
        check_ray_installed()
        if self.local:
            _prepare_local_environment()
        else:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray = self.ray = import_ray()
        if ray.is_initialized():
            log.info("Ray is already connected in this process: using that connection")
            return self
        try:
            if self.local:
                self._start_local(ray)
            else:
                self._connect(ray, self.requested_address)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start_local(self, ray: Any) -> None:
        self.temp_dir = tempfile.mkdtemp(prefix="sdkit-ray-")  # short: Ray's socket paths must fit 107 bytes
        self._owned = True
        num_cpus = self.num_cpus or os.cpu_count() or 1
        log.info("starting a local Ray instance (%d CPUs) in %s", num_cpus, self.temp_dir)
        with _signal_handlers_kept():
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _temp_dir=self.temp_dir,
                     _node_ip_address="127.0.0.1", log_to_driver=False, logging_level=logging.WARNING)

    def _connect(self, ray: Any, address: str) -> None:
        self._owned = True
        log.info("connecting to the Ray cluster at %s", address)
        try:
            with _signal_handlers_kept():
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UserInputError(f"cannot connect to the Ray cluster at {address!r}: {error}",
                                 "start one with `ray start --head`, then pass --address auto (on its head node) "
                                 "or --address HEAD_IP:6379; leave --address out for a local instance") from None
        except Exception as error:
            if type(error).__module__.startswith("ray"):
                raise RuntimeFailure(f"cannot connect to the Ray cluster at {address!r}: {error}",
                                     "check that the cluster is running (`ray status` on its head node)") from None
            raise

    @property
    def address(self) -> str:
        """The cluster's address (`HOST:PORT`), for other drivers that join it."""
        return str(self.ray.get_runtime_context().gcs_address)

    def resources(self) -> tuple[dict[str, float], dict[str, float]]:
        """The cluster's resources (CPU, GPU, ...) in all, and those free now."""
        return dict(self.ray.cluster_resources()), dict(self.ray.available_resources())

    def __exit__(self, *exc: object) -> None:
        try:
            if self._owned and self.ray is not None and self.ray.is_initialized():
                self.ray.shutdown()  # a local instance stops; a cluster only loses this driver
        finally:
            self._owned = False
            if self.temp_dir is not None:
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                self.temp_dir = None
