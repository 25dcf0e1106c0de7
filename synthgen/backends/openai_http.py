"""A backend for any OpenAI-compatible server on the official ``openai`` client: vLLM's ``vllm serve``,
a hosted API, a proxy.

Requests run on a thread pool of ``config.concurrency`` workers sharing one ``openai.OpenAI`` client
(thread-safe). A thread pool rather than asyncio keeps ``generate()`` a plain synchronous call that
also works inside Jupyter, where an event loop is already running.

Choices made here:

- ``mode="auto"`` means ``/completions``: the embedded model is a plain base model and the prompt
  templates already hold the whole text; use ``mode="chat"`` for instruction-tuned models.
- vLLM-only fields (``return_token_ids``, ``structured_outputs``) travel in ``extra_body`` and only to a
  server that says it is vLLM (see :mod:`.openai_wire`); other servers get standard arguments only
  (``response_format`` for a JSON Schema in chat mode). A constraint a server cannot enforce is logged
  once; the verifiers and the judge's parser still check every text.
- Retries (connection errors, timeouts, 408/409/429/5xx) are synthgen's loop around a client built with
  ``max_retries=0``: the waits honour ``Retry-After`` (seconds, milliseconds or an HTTP date) or back off
  exponentially with full jitter, and they are interruptible, so the first real failure of a batch
  stops the other requests' retries at once (the client's own retries sleep uninterruptibly).
- ``timeout_s`` is the client's per-request timeout; a non-streamed reply sends nothing until it is
  done, so it bounds the whole generation of one request.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from ..errors import BackendError
from ..records import Completion, GenerationRequest
from ..recipe.schema import OpenAIBackendConfig, SamplingConfig
from .base import check_result_shape, check_sampling, decoding_constraint
from .openai_server import probe_server
from .openai_wire import constraint_fields, parse_choices, redact_url, retry_after_s, server_message

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429})
START_HINT = "start it with `vllm serve DIR` (or python -m vllm.entrypoints.openai.api_server --model DIR) " \
             "or fix generation.backend.base_url"

__all__ = ["OpenAIBackend", "redact_url"]


class _Retryable(Exception):
    """A failure worth another attempt; ``wait_s`` is the server's Retry-After when it gave one."""

    def __init__(self, reason: str, wait_s: float | None = None):
        super().__init__(reason)
        self.wait_s = wait_s


class _Aborted(BackendError):
    """Raised by requests still queued or retrying after another request of the batch failed."""


class _Batch:
    """Shared state of one ``generate`` call: the first real failure wins and stops the rest."""

    def __init__(self):
        self.abort = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self, fn, *args):
        try:
            return fn(*args)
        except _Aborted:
            raise
        except BaseException as exc:
            with self._lock:
                if self.error is None:
                    self.error = exc
            self.abort.set()
            raise


class OpenAIBackend:
    """Generates through ``{base_url}/completions`` or ``{base_url}/chat/completions``.

    ``last_usage`` holds ``{"prompt_tokens", "completion_tokens"}`` summed over the last ``generate``.
    ``backoff_s`` is the first retry delay (doubling each attempt, capped at 30 s).
    """

    name = "openai"
    capacity = None

    def __init__(self, config: OpenAIBackendConfig, mode: str = "auto", system: str | None = None,
                 *, backoff_s: float = 0.5):
        if mode not in ("auto", "completion", "chat"):
            raise ValueError(f"mode must be auto, completion or chat, not {mode!r}")
        self.config = config
        self.mode = "completion" if mode == "auto" else mode
        self.system = system
        self.backoff_s = backoff_s
        self.base_url = config.base_url.rstrip("/")
        self.last_usage: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0}
        self.server = None
        self._client: Any = None
        self._warned: set[str] = set()

    @property
    def model_card(self) -> dict[str, Any] | None:
        return self.server.card if self.server else None

    def load(self) -> None:
        """Open the client and check that the server is up and serves ``config.model``; idempotent."""
        if self._client is not None:
            return
        import openai  # a core dependency, imported on use to keep `import synthgen` light

        client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key(), max_retries=0,
                               timeout=self.config.timeout_s)
        try:
            self.server = probe_server(client, self.base_url, self.config.model, START_HINT)
        except BaseException:
            client.close()
            raise
        self._client = client

    def _api_key(self) -> str:
        """The key from ``api_key_env``; servers without auth get a placeholder (never OPENAI_API_KEY,
        which must not leak to a server the recipe did not name it for)."""
        env = self.config.api_key_env
        if not env:
            return "EMPTY"
        key = os.environ.get(env)
        if not key:
            raise BackendError(f"environment variable {env} is not set",
                               hint=f"export {env}=... with the API key for {redact_url(self.base_url)}")
        return key

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def describe(self) -> dict[str, Any]:
        info = {"backend": self.name, "base_url": redact_url(self.base_url), "model": self.config.model,
                "mode": self.mode, "concurrency": self.config.concurrency}
        card = self.model_card or {}
        for key in ("owned_by", "root", "max_model_len"):
            if card.get(key) is not None:
                info[f"server_{key}"] = card[key]
        if self.server is not None and self.server.vllm_version:
            info["server_vllm_version"] = self.server.vllm_version
        return info

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        """Send every request with at most ``concurrency`` in flight; results come back in request order."""
        check_sampling(sampling)
        self.load()
        self.last_usage = {"prompt_tokens": 0, "completion_tokens": 0}
        if not requests:
            return []
        replies = self._run_all(requests, sampling)
        results = []
        for completions, usage in replies:
            results.append(completions)
            for key in self.last_usage:
                self.last_usage[key] += int(usage.get(key) or 0)
        check_result_shape(requests, results, sampling.n, self.name)
        return results

    def _run_all(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[tuple]:
        arguments = self._arguments(sampling)
        batch = _Batch()
        pool = ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(requests)),
                                  thread_name_prefix="synthgen-openai")
        try:
            futures = [pool.submit(batch.run, self._one, r, sampling.n, arguments, batch.abort) for r in requests]
            wait(futures, return_when=FIRST_EXCEPTION)
            if batch.error is not None:
                raise batch.error
            return [f.result() for f in futures]
        finally:
            batch.abort.set()  # a failure or Ctrl-C stops the retries still waiting
            pool.shutdown(wait=False, cancel_futures=True)

    def _one(self, request: GenerationRequest, n: int, arguments: dict, abort: threading.Event):
        """One request with retries; returns (completions, usage)."""
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            if abort.is_set():
                raise _Aborted("generation aborted")
            try:
                return self._create(request, n, arguments)
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    raise BackendError(
                        f"request {request.index} to {redact_url(self.base_url)}{self._path} failed after "
                        f"{attempts} attempts: {exc}",
                        hint="check the server's log, or raise generation.backend.max_retries / timeout_s",
                    ) from None
                delay = exc.wait_s if exc.wait_s is not None else self._backoff(attempt)
                log.warning("request %d: %s; retry %d/%d in %.1f s", request.index, exc,
                            attempt + 1, attempts - 1, delay)
                abort.wait(delay)
        raise AssertionError("unreachable")

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.mode == "chat" else "/completions"

    def _backoff(self, attempt: int) -> float:
        """Full jitter (AWS's scheme): uniform in [0, base·2^attempt], so retrying clients spread out."""
        return random.uniform(0, min(30.0, self.backoff_s * 2**attempt))

    def _create(self, request: GenerationRequest, n: int, arguments: dict) -> tuple[list[Completion], dict]:
        """One call of the client, its errors sorted into retryable and fatal."""
        import openai

        chat = self.mode == "chat"
        try:
            if chat:
                reply = self._client.chat.completions.create(
                    messages=self._messages(request.prompt), seed=request.sampling_seed, **arguments)
            else:
                reply = self._client.completions.create(prompt=request.prompt, seed=request.sampling_seed,
                                                        **arguments)
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, request.index) from None
        usage = reply.usage.model_dump() if reply.usage is not None else {}
        return parse_choices(list(reply.choices), int(usage.get("completion_tokens") or 0), n, chat), usage

    def _status_error(self, exc: Any, index: int) -> Exception:
        status, message = exc.status_code, server_message(exc.response)
        if status in RETRY_STATUS or status >= 500:
            return _Retryable(f"HTTP {status}: {message}", retry_after_s(exc.response.headers))
        return BackendError(f"{redact_url(self.base_url)}{self._path} rejected request {index}: "
                            f"HTTP {status}: {message}", hint="fix the sampling settings or prompt the server names")

    def _arguments(self, sampling: SamplingConfig) -> dict[str, Any]:
        """The client's keyword arguments shared by every request of a batch (the seed is per request)."""
        arguments: dict[str, Any] = {"model": self.config.model, "n": sampling.n, "temperature": sampling.temperature,
                                     "top_p": sampling.top_p, "max_tokens": sampling.max_tokens}
        if sampling.stop:
            arguments["stop"] = list(sampling.stop)
        extra: dict[str, Any] = {"return_token_ids": True} if self.server.is_vllm else {}
        constraint = decoding_constraint(sampling)
        if constraint is not None:
            fields = constraint_fields(*constraint, self.server, self.mode == "chat")
            if fields is None:
                self._warn_once(constraint[0])
            else:
                arguments.update(fields[0])
                extra.update(fields[1])
        if extra:
            arguments["extra_body"] = extra
        return arguments

    def _warn_once(self, kind: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("%s (%s mode) cannot enforce a %s constraint; decoding is free and the output is only "
                        "checked afterwards", redact_url(self.base_url), self.mode, kind)

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": prompt}]
