"""Generation on a pool of engine replicas: a Backend whose ``generate`` spreads a batch over Ray actors.

Each :class:`EngineReplica` actor builds the real backend from the recipe's backend table (one ``vllm.LLM``
per replica with its GPUs and tensor parallelism, or the server, replay, scripted or plugin backend) and
keeps it loaded for the whole run: the pool is created once, on ``load()``, not per batch. A batch is cut
into blocks that carry their first request's position; the driver reassembles the results in request
order, so the runner sees exactly what the local backend would return. A replica killed mid-block is
restarted by Ray (``max_restarts``) and the block retried (``max_task_retries``): backends are pure
functions of the request (its index and sampling seed), so a retried block returns the same completions.
"""

from __future__ import annotations

import math
import os
import uuid
from typing import Any

from ..errors import BackendError, RecipeError, SynthgenError
from ..records import Completion, GenerationRequest
from .ray_cluster import import_ray

ACTOR_PREFIX = "synthgen-engine"
RESUME_HINT = "finished batches are checkpointed: run the same command to resume"

ray = import_ray()


class EngineReplica:
    """One engine replica: builds its backend on start and after a restart, then generates blocks."""

    def __init__(self, config: Any, context: Any, mode: str, system: str | None):
        from ..backends import build_backend

        self.backend = build_backend(config, context, mode=mode, system=system)

    def start(self) -> dict[str, Any]:
        """Load the engine; report what the driver needs (provenance, a replay file's size, the process)."""
        self.backend.load()
        return {"pid": os.getpid(), "node": ray.util.get_node_ip_address(), "describe": self.backend.describe(),
                "capacity": getattr(self.backend, "capacity", None)}

    def pid(self) -> int:
        return os.getpid()

    def generate(self, start: int, requests: list[GenerationRequest], sampling: Any
                 ) -> tuple[int, list[list[Completion]], dict[str, Any]]:
        self.backend.load()  # idempotent; a restarted replica loads its engine again here
        results = self.backend.generate(requests, sampling)
        return start, results, dict(getattr(self.backend, "last_usage", None) or {})

    def close(self) -> None:
        self.backend.close()


_ENGINE_ACTOR = ray.remote(EngineReplica)


class RayEngineBackend:
    """The Backend contract over ``replicas`` EngineReplica actors (see the module docstring)."""

    name = "ray"

    def __init__(self, config: Any, context: Any, execution: Any, mode: str = "auto", system: str | None = None):
        self.config, self.context, self.execution = engine_config(config, execution, context), context, execution
        self.mode, self.system = mode, system
        self.replicas: list[Any] = []
        self.started: list[dict[str, Any]] = []
        self.last_usage: dict[str, int] = {}
        self.actor_names: list[str] = []
        self._capacity: int | None = None

    @property
    def capacity(self) -> int | None:
        """A finite backend's size (a replay file's rows), from the replicas' start; kept after ``close()``,
        because the run's stop reason (``source_exhausted``) is read after the engines are released."""
        return self._capacity

    def load(self) -> None:
        """Start every replica's engine (once); one that cannot start fails the run with its own error."""
        if self.replicas:
            return
        run = uuid.uuid4().hex[:8]
        self.actor_names = [f"{ACTOR_PREFIX}-{run}-{i}" for i in range(self.execution.replicas)]
        self.replicas = [self._actor(name) for name in self.actor_names]
        try:
            self.started = self._wait([replica.start.remote() for replica in self.replicas])
        except BaseException:
            self.close()
            raise
        self._capacity = self.started[0]["capacity"]

    def _actor(self, name: str) -> Any:
        ex = self.execution
        options = {"name": name, "num_gpus": ex.num_gpus, "num_cpus": ex.num_cpus, "max_restarts": ex.max_restarts,
                   "max_task_retries": ex.max_task_retries}
        return _ENGINE_ACTOR.options(**options).remote(self.config, self.context, self.mode, self.system)

    def _wait(self, refs: list[Any]) -> list[dict[str, Any]]:
        timeout = self.execution.start_timeout_s
        try:
            return ray.get(refs, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise BackendError(f"engine replicas did not start within {timeout:g} s (start_timeout_s)",
                               hint="the cluster may lack the resources they reserve: see `ray status`") from None
        except ray.exceptions.RayError as exc:
            raise replica_error(exc, "could not start its engine") from None

    def generate(self, requests: list[GenerationRequest], sampling: Any) -> list[list[Completion]]:
        """One list of completions per request, in request order, whichever replica made them."""
        if not requests:
            return []
        self.load()
        size = self.execution.block_size or math.ceil(len(requests) / len(self.replicas))
        blocks = [(i, requests[i:i + size]) for i in range(0, len(requests), size)]
        pool = ray.util.ActorPool(self.replicas)
        try:
            outputs = list(pool.map_unordered(lambda actor, b: actor.generate.remote(b[0], b[1], sampling), blocks))
        except ray.exceptions.RayError as exc:
            raise replica_error(exc, "failed while generating") from None
        return self._reassemble(outputs, dict((start, len(block)) for start, block in blocks), len(requests))

    def _reassemble(self, outputs: list[tuple[int, list, dict]], sizes: dict[int, int], total: int
                    ) -> list[list[Completion]]:
        """Put each block's results back at its position; a short or missing block is a bug, not a loss."""
        results: list[Any] = [None] * total
        usage: dict[str, int] = {}
        for start, block, block_usage in outputs:
            if len(block) != sizes[start]:
                raise RuntimeError(f"engine replica returned {len(block)} results for {sizes[start]} requests")
            results[start:start + len(block)] = block
            for key, value in block_usage.items():
                usage[key] = usage.get(key, 0) + int(value)
        if any(result is None for result in results):
            raise RuntimeError("engine replicas returned fewer results than requests")
        self.last_usage = usage
        return results

    def enforces(self, kind: str) -> bool | None:
        """The replicas' engine's answer: vLLM enforces, the test backends do not; an OpenAI server behind
        the replicas is not probed here (None)."""
        return {"vllm": True, "openai": None}.get(self.config.type, False)

    def describe(self) -> dict[str, Any]:
        own = dict(self.started[0]["describe"]) if self.started else {"backend": self.config.type}
        ex = self.execution
        return {**own, "executor": "ray", "replicas": ex.replicas, "num_gpus_per_replica": ex.num_gpus,
                "tensor_parallel_size": ex.tensor_parallel_size, "nodes": sorted({s["node"] for s in self.started})}

    def close(self) -> None:
        for replica in self.replicas:
            ray.kill(replica, no_restart=True)
        self.replicas, self.started = [], []


def engine_config(config: Any, execution: Any, context: Any) -> Any:
    """The backend table each replica builds: vLLM gets ``tensor_parallel_size`` (and multiprocessing
    workers inside the replica, which holds the GPUs Ray gave it)."""
    tp = execution.tensor_parallel_size
    if tp == 1:
        return config
    if config.type != "vllm":
        raise RecipeError(f"{context.where('execution.tensor_parallel_size')}: tensor parallelism shards a vLLM "
                          f"engine, but the backend is {config.type!r}", hint="set tensor_parallel_size = 1")
    kwargs = {"distributed_executor_backend": "mp", **config.engine_kwargs, "tensor_parallel_size": tp}
    return config.model_copy(update={"engine_kwargs": kwargs})


def replica_error(exc: Exception, what: str) -> SynthgenError:
    """A replica's failure as one line: the backend's own error when it raised one, else why the actor died."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SynthgenError):
        return type(cause)(f"engine replica {what}: {cause.message}", cause.hint or RESUME_HINT)
    if isinstance(exc, ray.exceptions.RayTaskError) and cause is not None:
        return BackendError(f"engine replica {what}: {type(cause).__name__}: {first_line(cause)}", RESUME_HINT)
    return BackendError(f"engine replica {what}: the replica died ({first_line(exc)})",
                        hint=f"raise execution.max_restarts to restart it; {RESUME_HINT}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
