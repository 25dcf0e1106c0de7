"""A backend for any OpenAI-compatible server: vLLM's ``api_server``, a hosted API, a proxy.

Requests run on a thread pool of ``config.concurrency`` workers sharing one ``httpx.Client``. A thread
pool rather than asyncio keeps ``generate()`` a plain synchronous call that also works inside Jupyter,
where an event loop is already running and ``asyncio.run`` would fail.

Choices made here:

- ``mode="auto"`` means ``/completions``: the embedded model is a plain base model and the prompt
  templates already hold the whole text; use ``mode="chat"`` for instruction-tuned models.
- Token counts: when ``/models`` says the server is vLLM (``owned_by == "vllm"``) we ask for
  ``return_token_ids`` and count each choice exactly. Other servers only report a total, so
  ``usage.completion_tokens`` is split evenly over the ``n`` choices (exact when ``n == 1``).
- Retries (connect errors, timeouts, 429, 5xx) back off exponentially with full jitter, or wait what
  ``Retry-After`` says; other 4xx fail at once with the server's message.
- ``timeout_s`` is httpx's per-phase timeout; a non-streamed reply sends nothing until it is done, so
  the read timeout bounds the whole generation.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..errors import BackendError
from ..records import Completion, GenerationRequest
from ..recipe.schema import OpenAIBackendConfig, SamplingConfig
from .base import check_result_shape

log = logging.getLogger(__name__)

_RETRY_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_START_HINT = (
    "start it with `python -m vllm.entrypoints.openai.api_server --model DIR` "
    "or fix generation.backend.base_url"
)


def redact_url(url: str) -> str:
    """The URL without user:password, so it can go into logs and manifests."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def server_message(response: httpx.Response) -> str:
    """The error text of a reply: OpenAI's ``error.message``, FastAPI's ``detail``, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)[:500]


def retry_after_s(response: httpx.Response, cap_s: float = 120.0) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds form), capped; None if absent."""
    value = response.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), cap_s) if value is not None else None
    except ValueError:  # an HTTP date: rare for APIs, fall back to our own backoff
        return None


class _Retryable(Exception):
    """A failure worth another attempt; ``wait_s`` is the server's Retry-After when it gave one."""

    def __init__(self, reason: str, wait_s: float | None = None):
        super().__init__(reason)
        self.wait_s = wait_s


class _Aborted(BackendError):
    """Raised by requests still queued or retrying after another request of the batch failed."""


class _Batch:
    """Shared state of one ``generate`` call: the first real failure wins and stops the rest.

    Requests that see ``abort`` raise :class:`_Aborted`; ``generate`` re-raises ``error``, the failure
    that caused it, never one of those.
    """

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
        self.model_card: dict[str, Any] | None = None
        self._client: httpx.Client | None = None

    def load(self) -> None:
        """Open the client and check that the server is up and serves ``config.model``."""
        if self._client is not None:
            return
        client = httpx.Client(
            headers=self._headers(),
            timeout=httpx.Timeout(self.config.timeout_s),
            limits=httpx.Limits(max_connections=self.config.concurrency,
                                max_keepalive_connections=self.config.concurrency),
        )
        try:
            self.model_card = self._check_model(client)
        except BaseException:
            client.close()
            raise
        self._client = client

    def _headers(self) -> dict[str, str]:
        env = self.config.api_key_env
        if not env:
            return {}
        key = os.environ.get(env)
        if not key:
            raise BackendError(f"environment variable {env} is not set",
                               hint=f"export {env}=... with the API key for {redact_url(self.base_url)}")
        return {"Authorization": f"Bearer {key}"}

    def _check_model(self, client: httpx.Client) -> dict[str, Any]:
        """GET /models; a server without that route is trusted, any other failure is an error."""
        url = redact_url(self.base_url)
        try:
            response = client.get(f"{self.base_url}/models")
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {url}: {exc}", hint=_START_HINT) from None
        if response.status_code == 404:
            log.warning("%s has no /models route; not checking that %s is served", url, self.config.model)
            return {"id": self.config.model}
        if response.status_code in (401, 403):
            raise BackendError(f"{url} rejected the API key: {server_message(response)}",
                               hint="set generation.backend.api_key_env to the variable holding a valid key")
        if response.status_code != 200:
            raise BackendError(f"{url}/models answered HTTP {response.status_code}: {server_message(response)}")
        cards = [c for c in response.json().get("data", []) if isinstance(c, dict)]
        card = next((c for c in cards if c.get("id") == self.config.model), None)
        if card is None:
            served = ", ".join(str(c.get("id")) for c in cards) or "none"
            raise BackendError(f"{url} does not serve model {self.config.model!r}; it serves: {served}",
                               hint="set generation.backend.model to one of the served names")
        return card

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
        return info

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        """Send every request with at most ``concurrency`` in flight; results come back in request order."""
        self.load()
        self.last_usage = {"prompt_tokens": 0, "completion_tokens": 0}
        if not requests:
            return []
        batch = _Batch()
        workers = min(self.config.concurrency, len(requests))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthgen-openai")
        try:
            futures = [pool.submit(batch.run, self._one, r, sampling, batch.abort) for r in requests]
            wait(futures, return_when=FIRST_EXCEPTION)
            if batch.error is not None:
                raise batch.error
            replies = [f.result() for f in futures]
        finally:
            batch.abort.set()  # a failure or Ctrl-C stops the retries still waiting
            pool.shutdown(wait=False, cancel_futures=True)
        results = []
        for completions, usage in replies:
            results.append(completions)
            for key in self.last_usage:
                self.last_usage[key] += int(usage.get(key) or 0)
        check_result_shape(requests, results, sampling.n, self.name)
        return results

    def _one(self, request: GenerationRequest, sampling: SamplingConfig, abort: threading.Event):
        """Post one request with retries; returns (completions, usage)."""
        path = "/chat/completions" if self.mode == "chat" else "/completions"
        payload = self._payload(request, sampling)
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            if abort.is_set():
                raise _Aborted("generation aborted")
            try:
                body = self._post(path, payload, request.index)
                return parse_choices(body, sampling.n, self.mode), body.get("usage") or {}
            except _Retryable as exc:
                if attempt + 1 == attempts:
                    raise BackendError(
                        f"request {request.index} to {redact_url(self.base_url)}{path} failed after "
                        f"{attempts} attempts: {exc}",
                        hint="check the server's log, or raise generation.backend.max_retries / timeout_s",
                    ) from None
                delay = exc.wait_s if exc.wait_s is not None else self._backoff(attempt)
                log.warning("request %d: %s; retry %d/%d in %.1f s", request.index, exc,
                            attempt + 1, attempts - 1, delay)
                abort.wait(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        """Full jitter (AWS's scheme): uniform in [0, base·2^attempt], so retrying clients spread out."""
        return random.uniform(0, min(30.0, self.backoff_s * 2**attempt))

    def _post(self, path: str, payload: dict[str, Any], index: int) -> dict[str, Any]:
        assert self._client is not None
        try:
            response = self._client.post(f"{self.base_url}{path}", json=payload)
        except _RETRY_ERRORS as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise BackendError(f"cannot reach {redact_url(self.base_url)}: {exc}", hint=_START_HINT) from None
        if response.status_code in (408, 429) or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}: {server_message(response)}", retry_after_s(response))
        if response.status_code != 200:
            raise BackendError(
                f"{redact_url(self.base_url)}{path} rejected request {index}: "
                f"HTTP {response.status_code}: {server_message(response)}",
                hint="fix the sampling settings or prompt the server names",
            )
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"{redact_url(self.base_url)}{path} answered request {index} with non-JSON: "
                               f"{response.text[:200]!r}") from None

    def _payload(self, request: GenerationRequest, sampling: SamplingConfig) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.config.model, "n": sampling.n, "temperature": sampling.temperature,
            "top_p": sampling.top_p, "max_tokens": sampling.max_tokens, "seed": request.sampling_seed,
        }
        if sampling.stop:
            payload["stop"] = list(sampling.stop)
        vllm_server = (self.model_card or {}).get("owned_by") == "vllm"
        if vllm_server:
            payload["return_token_ids"] = True
        if sampling.json_schema is not None:
            payload.update(_schema_constraint(sampling.json_schema, vllm_server, self.mode))
        if self.mode == "chat":
            system = [{"role": "system", "content": self.system}] if self.system else []
            payload["messages"] = [*system, {"role": "user", "content": request.prompt}]
        else:
            payload["prompt"] = request.prompt
        return payload


def _schema_constraint(schema: dict[str, Any], vllm_server: bool, mode: str) -> dict[str, Any]:
    """Constrained decoding: vLLM's own field on a vLLM server, OpenAI's response_format in chat mode."""
    if vllm_server or mode != "chat":
        return {"structured_outputs": {"json": schema}}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "synthgen", "schema": schema,
                                                                         "strict": True}}}


def parse_choices(body: dict[str, Any], n: int, mode: str) -> list[Completion]:
    """Completions in choice-index order; token counts from ``token_ids`` or an even usage split."""
    choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    total = int((body.get("usage") or {}).get("completion_tokens") or 0)
    shares = [total // n + (1 if i < total % n else 0) for i in range(n)] if n else []
    out = []
    for i, choice in enumerate(choices):
        text = (choice.get("message") or {}).get("content") if mode == "chat" else choice.get("text")
        ids = choice.get("token_ids")
        n_tokens = len(ids) if isinstance(ids, list) else (shares[i] if i < len(shares) else 0)
        out.append(Completion(text or "", n_tokens, choice.get("finish_reason")))
    return out
