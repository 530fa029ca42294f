"""The Ray cluster a search runs on: a private local instance, or one joined at its head.

:func:`ray_cluster` starts a private local Ray instance (``address=None``) or joins
a cluster (``host:port`` of its head, the normal form; ``auto``) and yields its
resources; errors a user can cause (an address nobody answers on, a cluster that
wants its authentication token, a Ray Client address) are one line each
(:func:`check_reachable` fails fast, before anything is created).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading

import ray

from actsearch import stopping
from actsearch.errors import ActsearchError

from .ray_log import log_hint, ray_output
from .triage import first_line

__all__ = ["ray_cluster", "check_reachable"]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (ray.init would retry for minutes),
    and on a Ray Client address (``ray://``)."""
    if address.startswith("ray://"):
        raise ActsearchError(f"--address {address!r}: Ray Client (ray://) addresses are not supported (Tune would "
                             "run the search's driver on the cluster, away from its store); run actsearch on a "
                             "machine of the cluster with --address HOST:PORT of the head (port 6379 by default)")
    host, sep, port = address.rpartition(":")
    if address in ("auto", "local") or not sep:
        return
    if not port.isdigit():
        raise ActsearchError(f"Ray address {address!r} is not host:port")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ActsearchError(f"cannot reach the Ray cluster at {address!r}: {reason}") from None


def _quiet_tune() -> None:
    # the result loggers (CSV/JSON/TensorBoard per trial) cost time and disk: only when asked (--logger)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_THRESHOLD_S", "1000")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")
    # local workers stay in the folder they started in (relative paths of the user's task)
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")
    # SIGINT is actsearch's, as SIGTERM is (actsearch.stopping): Tune is stopped through its Stopper
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """``os.environ`` with ``values`` set while the block runs, as it was afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def ray_cluster(address: str | None, *, num_cpus: int | None = None, device: str = "auto",
                runtime_env: dict | None = None, log_path: str | None = None):
    """Start a private local Ray instance (``address=None``) or join ``address``;
    yields the cluster's resources and shuts down what it started.

    A local instance never attaches to a ``ray start`` cluster running on the
    machine (``address="local"``).  ``device="cuda:N"`` shows the local instance
    GPU N alone.  ``runtime_env`` (:func:`actsearch.search.ray.shipping.runtime_env`) is
    the job's: what every worker gets.  Ray's own messages go to ``log_path``."""
    _quiet_tune()
    with ray_output(log_path) as output:
        if ray.is_initialized():  # a caller's own Ray session (tests, notebooks): use it as it is
            yield ray.cluster_resources()
            return
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        # the local instance's processes start with this environment (they keep it when it is
        # restored below): let its workers import a user's --task module from here
        paths = [os.getcwd()] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        started_with = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        # ray.init keeps the handlers of its logger (the log file's): Ray's warnings go there too
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
                      logging_level=logging.WARNING if log_path else logging.ERROR)
        env = dict(runtime_env or {})
        if not address:
            env.pop("env_vars", None)  # local workers inherit this process's environment
        if env:
            kwargs["runtime_env"] = env
        try:
            if address:
                _check_auth(address, log_path=log_path)
                with _environ(started_with):
                    ray.init(address=address, **kwargs)
            else:
                if device.startswith("cuda:"):  # the local instance sees that GPU alone
                    started_with["CUDA_VISIBLE_DEVICES"] = _physical_gpu(int(device.split(":")[1]),
                                                                         os.environ.get("CUDA_VISIBLE_DEVICES"))
                with _environ(started_with):
                    ray.init(address="local", num_cpus=num_cpus, **kwargs)
        except ActsearchError:
            raise
        except SystemExit:
            # ray.init's own SIGTERM handlers exit while it starts: a stop request like ours
            stopping.request(signal.SIGTERM)
            raise KeyboardInterrupt from None
        except Exception as exc:  # noqa: BLE001
            if stopping.requested():  # Ray's processes got the signal too (sent to the process group)
                raise KeyboardInterrupt from None
            where = address or "a local Ray instance"
            raise ActsearchError(f"cannot start or join {where}: {type(exc).__name__}: {first_line(exc)}"
                                 f"{log_hint(log_path)}") from None
        finally:
            stopping.reclaim()  # ray.init set its own SIGTERM handler (it exits with code 1)
        if output is not None:
            output.install()
        try:
            yield ray.cluster_resources()
        finally:
            ray.shutdown()


@contextlib.contextmanager
def _stderr_to(path: str | None):
    """File descriptor 2 (what Ray's C++ core prints) to ``path`` for a moment."""
    if not path:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(fd)


#: where a user gives Ray the cluster's token; Ray reads them only once RAY_AUTH_MODE=token is set
_TOKEN_VARIABLES = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


def _check_auth(address: str, timeout: float = 15.0, log_path: str | None = None) -> None:
    """Ask the cluster's GCS whether it lets this process in (a fraction of a second),
    before ray.init would retry for half a minute and print each attempt.

    Ray sends a token only under ``RAY_AUTH_MODE=token``; a user who set
    ``RAY_AUTH_TOKEN`` or ``RAY_AUTH_TOKEN_PATH`` (and not the mode) means it, so the
    mode is turned on for this process and the cluster asked again.  The token kept on
    this machine (``~/.ray/auth_token``) is offered only to a cluster on this machine.
    Any other refusal is one line naming what to set."""
    if address in ("auto", "local"):
        return  # Ray finds a local cluster and its token itself
    with _stderr_to(log_path):  # each refused attempt is a line of Ray's C++ log
        if not _gcs_refusal(address, timeout):
            return
        given = any(os.environ.get(name) for name in _TOKEN_VARIABLES)
        if (os.environ.get("RAY_AUTH_MODE") is None and (given or _local_host(address.rpartition(":")[0]))
                and _enable_token_mode() and not _gcs_refusal(address, timeout)):
            return
    raise ActsearchError(f"the Ray cluster at {address!r} refused this connection: its authentication token is "
                         "missing or wrong (Ray token authentication); set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
                         "(or RAY_AUTH_TOKEN_PATH, a file) to the cluster's token (`ray get-auth-token` on its head)")


def _gcs_refusal(address: str, timeout: float) -> str:
    """Why the GCS at ``address`` refuses this process for want of a token, or ``""``
    (it lets it in, or it failed otherwise: ray.init reports that)."""
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:
        return ""
    out: list[str] = []

    def probe() -> None:
        try:
            GcsClient(address=address)
        except AuthenticationError as exc:
            out.append(str(exc).split(".")[0] or "authentication failed")
        except Exception:  # noqa: BLE001 - not ours to report: ray.init says it in its words
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return out[0] if out else ""


def _local_host(host: str) -> bool:
    if host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("127."):
        return True
    try:
        return host in {socket.gethostname(), socket.getfqdn(), socket.gethostbyname(socket.gethostname())}
    except OSError:
        return False


def _enable_token_mode() -> bool:
    """``RAY_AUTH_MODE=token`` for this process (and the processes it starts), as
    ``ray.init()`` does for a cluster it finds here; False when no token is at hand."""
    try:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth
        from ray._raylet import AuthenticationTokenLoader
    except ImportError:
        return False
    if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
        return False
    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()
    return True


def _physical_gpu(index: int, visible: str | None) -> str:
    """GPU ``index`` as this process counts them, in CUDA_VISIBLE_DEVICES' terms."""
    import torch

    count = torch.cuda.device_count()
    if index >= count:
        raise ActsearchError(f"--device cuda:{index} asked for, but torch sees {count} GPU(s) here")
    ids = [v for v in (visible or "").split(",") if v.strip()] if visible else [str(i) for i in range(count)]
    return ids[index]

