"""[execution] table: where a run executes (this process, or a Ray cluster) and how wide.

How a run executes is not what it produces: the same recipe and seed give the same dataset on every
executor, so this table is left out of the recipe hash (``exclude=True`` on the Recipe field).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Strict


class ExecutionConfig(Strict):
    executor: Literal["local", "ray"] = Field(
        "local", description="local: this process (no Ray needed); ray: engine replicas and verifiers on a Ray cluster.")
    address: str | None = Field(
        None, description="Ray cluster address (host:port or 'auto'); --address and RAY_ADDRESS win; "
                          "none starts a local Ray cluster.")
    replicas: int = Field(1, ge=1, description="Engine replicas (one backend engine per replica actor).")
    num_gpus: float = Field(0.0, ge=0.0, description="GPUs reserved per replica (0.5 packs two replicas on a GPU).")
    num_cpus: float = Field(
        0.0, ge=0.0, description="CPUs reserved per replica (0: a GPU or server engine leaves the CPUs to the "
                                 "verifiers; set it for CPU engines).")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallelism inside one replica.")
    block_size: int | None = Field(
        None, ge=1, description="Requests per generation block; default: a batch split evenly over the replicas.")
    verify_block_size: int = Field(32, ge=1, description="Candidates per verifier task on the CPU workers.")
    max_restarts: int = Field(3, ge=-1, description="Restarts of a dead replica actor (-1: unlimited, 0: none).")
    max_task_retries: int = Field(3, ge=-1, description="Retries of a block whose replica died (-1: unlimited).")
    start_timeout_s: float = Field(600.0, gt=0, description="Seconds to wait for every replica's engine to start.")

    @model_validator(mode="after")
    def _gpus_cover_tensor_parallelism(self) -> "ExecutionConfig":
        tp = self.tensor_parallel_size
        if tp > 1 and self.num_gpus < tp:
            raise ValueError(f"tensor_parallel_size = {tp} shards the model over {tp} GPUs, but num_gpus = "
                             f"{self.num_gpus:g} per replica: set num_gpus = {tp}")
        return self
