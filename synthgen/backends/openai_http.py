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
- A 200 reply is read from its raw body and checked (JSON, an object, exactly ``n`` choices): a truncated
  body, a proxy's HTML page or ``choices: null`` is retried like a 5xx, a wrong number of choices fails at
  once; either way the error is one line naming the URL and what the server sent.
- ``key`` is the recipe key of this backend's table (``generation.backend``, ``verify.0.backend``,
  ``steps.1.backend``), so every hint names the setting to change; ``where`` (``recipe.toml:verify.0.backend``),
  when given, prefixes every error of ``load`` and ``generate``.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from ..errors import BackendError, SynthgenError
from ..records import Completion, GenerationRequest
from ..recipe.schema import OpenAIBackendConfig, SamplingConfig
from ..redact import redact_url
from .base import DEFAULT_KEY, check_result_shape, check_sampling, decoding_constraint
from .openai_server import is_refused, probe_server, root_cause, start_hint
from .openai_wire import (InvalidReply, constraint_fields, parse_choices, reply_body, reply_choices,
                          retry_after_s, server_message, status_hint, token_count, tokens_known)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429})

__all__ = ["OpenAIBackend", "redact_url"]


class _Retryable(Exception):
    """A failure worth another attempt; ``wait_s`` is the server's Retry-After when it gave one, ``hint``
    what to do if every attempt fails this way (default: the server's log, or more retries)."""

    def __init__(self, reason: str, wait_s: float | None = None, hint: str | None = None):
        super().__init__(reason)
        self.wait_s, self.hint = wait_s, hint


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

    ``last_usage`` holds ``{"prompt_tokens", "completion_tokens", "tokens_known"}`` summed over the last
    ``generate``; ``tokens_known`` is False when some reply said nothing about its tokens (no ``usage``,
    no ``token_ids``): the counts are then lower bounds and the completions' ``n_tokens`` 0, not measured.
    ``backoff_s`` is the first retry delay (doubling each attempt, capped at 30 s).
    """

    name = "openai"
    capacity = None

    def __init__(self, config: OpenAIBackendConfig, mode: str = "auto", system: str | None = None,
                 *, backoff_s: float = 0.5, key: str = DEFAULT_KEY, where: str | None = None):
        if mode not in ("auto", "completion", "chat"):
            raise ValueError(f"mode must be auto, completion or chat, not {mode!r}")
        self.config = config
        self.mode = "completion" if mode == "auto" else mode
        self.system = system
        self.backoff_s = backoff_s
        self.key, self.where = key, where
        self.base_url = config.base_url.rstrip("/")
        self.last_usage: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "tokens_known": True}
        self.server = None
        self._client: Any = None
        self._warned: set[str] = set()

    @property
    def model_card(self) -> dict[str, Any] | None:
        return self.server.card if self.server else None

    def load(self) -> None:
        """Open the client and check that the server is up and serves ``config.model``; idempotent."""
        try:
            self._load()
        except SynthgenError as exc:
            raise self._located(exc) from None

    def _load(self) -> None:
        if self._client is not None:
            return
        import openai  # a core dependency, imported on use to keep `import synthgen` light

        client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key(), max_retries=0,
                               timeout=self.config.timeout_s)
        try:
            self.server = probe_server(client, self.base_url, self.config.model, self.key, self.config.api_key_env)
        except BaseException:
            client.close()
            raise
        self._client = client

    def _located(self, exc: SynthgenError) -> SynthgenError:
        """``exc`` with the recipe location of this backend's table in front, when one was given."""
        if self.where is None:
            return exc
        return type(exc)(f"{self.where}: {exc.message}", exc.hint)

    def _api_key(self) -> str:
        """The key from ``api_key_env``; servers without auth get a placeholder (never OPENAI_API_KEY,
        which must not leak to a server the recipe did not name it for)."""
        env = self.config.api_key_env
        if not env:
            return "EMPTY"
        key = os.environ.get(env)
        if not key:
            raise BackendError(f"environment variable {env} is not set ({self.key}.api_key_env names it)",
                               hint=f"export {env}=... with the API key for {redact_url(self.base_url)}")
        return key

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def enforces(self, kind: str) -> bool | None:
        """Whether the server decodes under a ``kind`` constraint: a vLLM server does, another one only a
        JSON Schema in chat mode (``response_format``); None until the server was probed (``load``)."""
        if self.server is None:
            return None
        return constraint_fields(kind, {}, self.server, self.mode == "chat") is not None

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
        try:
            return self._generate(requests, sampling)
        except SynthgenError as exc:
            raise self._located(exc) from None

    def _generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        check_sampling(sampling)
        self._load()
        self.last_usage = {"prompt_tokens": 0, "completion_tokens": 0, "tokens_known": True}
        if not requests:
            return []
        replies = self._run_all(requests, sampling)
        results = []
        for completions, usage, known in replies:
            results.append(completions)
            self._count(usage, known)
        check_result_shape(requests, results, sampling.n, self.name)
        return results

    def _count(self, usage: dict[str, Any], known: bool) -> None:
        for key in ("prompt_tokens", "completion_tokens"):
            self.last_usage[key] += token_count(usage.get(key))
        self.last_usage["tokens_known"] = self.last_usage["tokens_known"] and known

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
        """One request with retries; returns (completions, usage, tokens known)."""
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            if abort.is_set():
                raise _Aborted("generation aborted")
            try:
                return self._create(request, n, arguments)
            except _Retryable as exc:
                if abort.is_set():  # another request failed (and the client may be closing): not worth a line
                    raise _Aborted("generation aborted") from None
                if attempt + 1 == attempts:
                    raise self._exhausted(request, attempts, exc) from None
                delay = exc.wait_s if exc.wait_s is not None else self._backoff(attempt)
                log.warning("request %d: %s; retry %d/%d in %.1f s", request.index, exc,
                            attempt + 1, attempts - 1, delay)
                abort.wait(delay)
        raise AssertionError("unreachable")

    def _exhausted(self, request: GenerationRequest, attempts: int, exc: _Retryable) -> BackendError:
        hint = exc.hint or f"check the server's log, or raise {self.key}.max_retries / timeout_s"
        return BackendError(f"request {request.index} to {self._url} failed after {attempts} attempts: {exc}",
                            hint=hint)

    @property
    def _path(self) -> str:
        return "/chat/completions" if self.mode == "chat" else "/completions"

    @property
    def _url(self) -> str:
        return f"{redact_url(self.base_url)}{self._path}"

    def _backoff(self, attempt: int) -> float:
        """Full jitter (AWS's scheme): uniform in [0, base·2^attempt], so retrying clients spread out."""
        return random.uniform(0, min(30.0, self.backoff_s * 2**attempt))

    def _create(self, request: GenerationRequest, n: int, arguments: dict) -> tuple[list[Completion], dict, bool]:
        """One call of the client, its errors sorted into retryable and fatal."""
        import openai

        try:
            response = self._send(request, arguments)
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise self._connection_error(exc) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc, request.index) from None
        try:
            body = reply_body(response.text, response.headers.get("content-type", ""))
            choices = reply_choices(body, n)
        except InvalidReply as exc:
            raise self._invalid_reply(exc, request.index, n) from None
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        completions = parse_choices(choices, token_count(usage.get("completion_tokens")), n, self.mode == "chat")
        return completions, usage, tokens_known(usage, choices)

    def _send(self, request: GenerationRequest, arguments: dict) -> Any:
        """POST the request; the raw HTTP reply (its body is checked here, not by the client's models)."""
        if self.mode == "chat":
            raw = self._client.chat.completions.with_raw_response.create(
                messages=self._messages(request.prompt), seed=request.sampling_seed, **arguments)
        else:
            raw = self._client.completions.with_raw_response.create(
                prompt=request.prompt, seed=request.sampling_seed, **arguments)
        return raw.http_response

    def _connection_error(self, exc: Any) -> _Retryable:
        """A refused connection or a timeout, with its root cause (the client's own text is generic)."""
        cause = root_cause(exc)
        reason = f"{type(exc).__name__}: {exc}"
        reason = reason if cause in reason else f"{reason} ({cause})"
        return _Retryable(reason, hint=start_hint(self.key) if is_refused(exc) else None)

    def _invalid_reply(self, exc: InvalidReply, index: int, n: int) -> Exception:
        """A body that is not a completion: retried (it may be a proxy's hiccup) unless it can't change."""
        if exc.retry:
            return _Retryable(f"invalid reply: {exc}", hint=f"check the server's log, and that {self.key}.base_url "
                              "is an OpenAI-compatible server, not a proxy's error page or a web app")
        fix = "set n = 1 in the sampling table" if n > 1 else "check the server's log"
        return BackendError(f"{self._url} returned an invalid reply to request {index}: {exc}",
                            hint=f"the server does not honour n = {n}: {fix}")

    def _status_error(self, exc: Any, index: int) -> Exception:
        status, message = exc.status_code, server_message(exc.response)
        if status in RETRY_STATUS or status >= 500:
            return _Retryable(f"HTTP {status}: {message}", retry_after_s(exc.response.headers))
        hint = status_hint(status, self.key, redact_url(self.base_url), self._path, self.config.api_key_env)
        return BackendError(f"{self._url} rejected request {index}: HTTP {status}: {message}", hint=hint)

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
