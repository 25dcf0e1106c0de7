"""Connecting to a Ray cluster at the address :func:`synthgen.executors.resolve_execution` chose
(``--address``, then ``RAY_ADDRESS``, then ``[execution] address``), else starting a local one here.

An unreachable address fails in seconds with one line (``ray.init`` itself would retry for minutes), and a
run that asks for more GPUs than the cluster has fails before any actor waits forever for them. Replica
and worker logs stay in Ray's session logs (``/tmp/ray/session_latest/logs`` on each node), so the console
keeps synthgen's own lines.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from ..errors import MissingDependencyError, SynthgenError, option

CONNECT_TIMEOUT_S = 5.0
AUTH_MODE_ENV = "RAY_AUTH_MODE"


def start_hint() -> str:
    """Start a cluster, or fix the address (``--address`` on the command line, ``address=`` from Python)."""
    return f"start one with `ray start --head` on the head node, or fix {option('address')} / RAY_ADDRESS"


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(f"the Ray executor needs ray ({exc})", hint="pip install 'synthgen[ray]'") from None
    return ray


@dataclass
class RayConnection:
    """The Ray session a run uses; ``started`` when this run started it (and so shuts it down)."""

    address: str | None
    started: bool

    def close(self) -> None:
        if self.started:
            import_ray().shutdown()


def connect(configured: str | None, num_cpus: int | None = None) -> RayConnection:
    """Join the cluster (or reuse the session this process already has); start a local one without an address
    (with ``num_cpus`` CPUs when given, else all). An explicit address is probed first, even when this
    process is already connected."""
    ray = import_ray()
    address = configured
    if address not in (None, "auto", "local"):
        probe(address)
    if ray.is_initialized():
        return RayConnection(address, started=False)
    local = {"num_cpus": num_cpus} if num_cpus is not None and address in (None, "local") else {}
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False, **local)
    except Exception as exc:  # noqa: BLE001 - every way of failing to join is one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SynthgenError(f"cannot join the Ray cluster at {address or 'a new local cluster'}: {first}",
                            hint=join_hint()) from None
    return RayConnection(address, started=True)


def join_hint() -> str:
    """What to try when joining failed. Ray's error does not say whether the cluster wanted a token, and a
    driver that joins by address sends one only with ``RAY_AUTH_MODE=token`` (a token file or
    ``RAY_AUTH_TOKEN`` alone is not sent)."""
    if os.environ.get(AUTH_MODE_ENV, "").strip().lower() == "token":
        return (f"{start_hint()}; {AUTH_MODE_ENV}=token is set, so the token here (RAY_AUTH_TOKEN, else "
                "~/.ray/auth_token) must be the head's: copy ~/.ray/auth_token from the head")
    return (f"{start_hint()}; a cluster with token authentication (on by default since Ray 2.59) is joined with "
            f"{AUTH_MODE_ENV}=token set here and the head's token in ~/.ray/auth_token (copy it from the head) "
            "or in RAY_AUTH_TOKEN")


def probe(address: str) -> None:
    """Fail fast when nothing listens at ``host:port`` (``ray://host:port`` too)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise SynthgenError(f"Ray address {address!r} is not host:port",
                            hint=f"e.g. {option('address example')} or 'auto'")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise SynthgenError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
                            hint=start_hint()) from None


def check_resources(execution: Any, where: str, pools: int = 1, verify_cpus: float = 0.0) -> None:
    """The replicas must fit the cluster: GPUs and CPUs reserved per replica × replicas × ``pools`` (the
    run's pool, and one per step with its own backend). A run with verifiers on Ray tasks must leave
    ``verify_cpus`` CPUs free as well: a task that finds none waits forever."""
    available = import_ray().cluster_resources()
    replicas = execution.replicas * pools
    for resource, per_replica, key in (("GPU", execution.num_gpus, "num_gpus"), ("CPU", execution.num_cpus, "num_cpus")):
        need = per_replica * replicas
        have = available.get(resource, 0.0)
        if need > have:
            raise SynthgenError(
                f"{where}.{key}: {replica_count(execution, pools)} × {per_replica:g} {resource} need {need:g} "
                f"{resource}s, but the Ray cluster has {have:g}",
                hint=f"lower execution.{key} or execution.replicas, or add nodes with {resource}s "
                     f"(ray start --num-{resource.lower()}s N)")
    check_verifier_room(execution, where, pools, available.get("CPU", 0.0), verify_cpus)


def check_verifier_room(execution: Any, where: str, pools: int, have: float, verify_cpus: float) -> None:
    """The CPUs the replicas leave must run one verifier task, or the first batch never gets its verdicts."""
    reserved = execution.num_cpus * execution.replicas * pools
    if verify_cpus <= 0 or have - reserved >= verify_cpus:
        return
    raise SynthgenError(
        f"{where}.num_cpus: {replica_count(execution, pools)} × {execution.num_cpus:g} CPU reserve {reserved:g} of "
        f"the Ray cluster's {have:g} CPUs, and the verifiers need {verify_cpus:g} free CPU for their Ray tasks",
        hint=f"lower execution.num_cpus or execution.replicas so that replicas × num_cpus ≤ "
             f"{max(have - verify_cpus, 0) / pools:g}, or add CPUs to the cluster: ray start --num-cpus N")


def replica_count(execution: Any, pools: int) -> str:
    """``2 replica(s)``, or with steps that have their own backend ``2 pools × 2 replica(s)``."""
    return f"{execution.replicas} replica(s)" if pools == 1 else f"{pools} pools × {execution.replicas} replica(s)"
