"""What goes over the wire to an OpenAI-compatible server, and what comes back.

Pure functions, no client: which server we talk to (:class:`ServerInfo`), the request's standard
arguments and its ``extra_body`` (vLLM-only fields, sent to vLLM servers only), ``Retry-After`` in all
its forms, the checks a reply's body must pass (JSON, an object, ``n`` choices; :class:`InvalidReply`
says what came instead), the choices turned into :class:`~synthgen.records.Completion` objects, and the
hint for each status a server refuses a request with.

Why vLLM fields go to vLLM only: a strict server (OpenAI itself) rejects unknown fields with HTTP 400,
and a lenient one ignores them, so a constraint would silently do nothing. We know a server is vLLM
when its ``/models`` cards say ``owned_by: "vllm"`` (vLLM's default); ``/version`` then gives the
version, which picks the constraint field: ``structured_outputs`` from vLLM 0.10.2 on, the older
``guided_json`` / ``guided_choice`` / ``guided_regex`` before (vLLM 0.12 removed those and ignores
them without an error, so sending the wrong one would fail open).
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from ..records import Completion

RETRY_AFTER_CAP_S = 120.0
STRUCTURED_OUTPUTS_SINCE = (0, 10, 2)


def server_root(base_url: str) -> str:
    """``http://host:8000/v1`` → ``http://host:8000`` (vLLM serves ``/version`` at the root)."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def server_message(response: Any) -> str:
    """The error text of a reply: OpenAI's ``error.message``, FastAPI's ``detail``, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or str(response.reason_phrase)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])
    return str(body)[:500]


def retry_after_s(headers: Any, cap_s: float = RETRY_AFTER_CAP_S, now: float | None = None) -> float | None:
    """Seconds a reply asks us to wait, capped; None when it does not say.

    Reads ``retry-after-ms`` (OpenAI), ``Retry-After`` as delta-seconds, and ``Retry-After`` as an
    HTTP date (RFC 9110 §10.2.3, e.g. ``Wed, 21 Oct 2015 07:28:00 GMT``; a date in the past means 0).
    """
    millis = headers.get("retry-after-ms")
    value = headers.get("retry-after")
    seconds = _number(millis, 1000.0) if millis is not None else None
    if seconds is None and value is not None:
        seconds = _number(value, 1.0)
        if seconds is None:
            seconds = _http_date_delay(value, time.time() if now is None else now)
    return None if seconds is None else min(max(seconds, 0.0), cap_s)


def _number(text: str, divisor: float) -> float | None:
    try:
        value = float(text) / divisor
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _http_date_delay(text: str, now: float) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.timestamp() - now if parsed is not None and parsed.tzinfo is not None else None


@dataclass(frozen=True)
class ServerInfo:
    """What the server told us about itself: its model card and, for vLLM, its version."""

    card: dict[str, Any]
    vllm_version: str | None = None

    @property
    def is_vllm(self) -> bool:
        return self.card.get("owned_by") == "vllm"

    @property
    def structured_outputs_field(self) -> bool:
        """True: vLLM's ``structured_outputs`` object; False: the pre-0.10.2 ``guided_*`` fields."""
        version = _version_tuple(self.vllm_version)
        return version is None or version >= STRUCTURED_OUTPUTS_SINCE


def _version_tuple(text: str | None) -> tuple[int, ...] | None:
    parts = []
    for piece in (text or "").split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def constraint_fields(kind: str, value: Any, server: ServerInfo, chat: bool) -> tuple[dict, dict] | None:
    """``(arguments, extra_body)`` that make the server decode under the constraint, or None when this
    server has no way to enforce it (the caller's verifiers and parsers still check the text)."""
    if server.is_vllm:
        if server.structured_outputs_field:
            return {}, {"structured_outputs": {kind: value}}
        return {}, {f"guided_{kind}": value}
    if kind == "json" and chat:
        schema = {"name": "synthgen", "schema": value, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}, {}
    return None


def parse_choices(choices: list[Any], completion_tokens: int, n: int, chat: bool) -> list[Completion]:
    """Completions in choice-index order; token counts from vLLM's ``token_ids`` or an even usage split."""
    ordered = sorted(choices, key=lambda c: _get(c, "index") or 0)
    shares = [completion_tokens // n + (1 if i < completion_tokens % n else 0) for i in range(n)] if n else []
    out = []
    for i, choice in enumerate(ordered):
        text = _get(_get(choice, "message"), "content") if chat else _get(choice, "text")
        ids = _get(choice, "token_ids")
        n_tokens = len(ids) if isinstance(ids, list) else (shares[i] if i < len(shares) else 0)
        out.append(Completion(text or "", n_tokens, _get(choice, "finish_reason")))
    return out


def _get(obj: Any, key: str) -> Any:
    """A field of a dict or of an openai model (whose extra fields, like vLLM's, are attributes)."""
    if obj is None:
        return None
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


# --- replies ---------------------------------------------------------------------------------------


class InvalidReply(Exception):
    """A 200 reply that is not a completion. ``retry``: another attempt may fix it (a truncated body, a
    proxy's error page); a wrong number of choices is the server's behaviour and will not change."""

    def __init__(self, what: str, retry: bool = True):
        super().__init__(what)
        self.retry = retry


def reply_body(text: str, content_type: str = "") -> dict[str, Any]:
    """The JSON object a completion reply must be; :class:`InvalidReply` saying what came instead."""
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise InvalidReply(_not_json(text, content_type, exc)) from None
    if not isinstance(body, dict):
        raise InvalidReply(f"JSON {type(body).__name__} instead of an object: {snippet(text)}")
    return body


def _not_json(text: str, content_type: str, exc: ValueError) -> str:
    if not text.strip():
        return "an empty body"
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        return f"an HTML page instead of JSON: {snippet(text)}"
    return f"invalid JSON ({exc}): {snippet(text)}"


def reply_choices(body: dict[str, Any], n: int) -> list[Any]:
    """The reply's ``choices``, exactly ``n`` of them; :class:`InvalidReply` otherwise."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        error = server_error(body)
        if error:
            raise InvalidReply(f"an error instead of choices: {error}")
        raise InvalidReply(f"no choices (choices: {json.dumps(choices)[:80]})")
    if not all(isinstance(choice, dict) for choice in choices):
        raise InvalidReply(f"choices that are not objects: {json.dumps(choices)[:80]}")
    if len(choices) != n:
        raise InvalidReply(f"{len(choices)} choice{'s' if len(choices) != 1 else ''} for n={n}", retry=False)
    return choices


def server_error(body: dict[str, Any]) -> str | None:
    """The ``error`` a 200 reply carries instead of a completion (some proxies do that), if any."""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300] if error else None


def snippet(text: str, limit: int = 80) -> str:
    """The start of what the server sent, on one line, quoted."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def token_count(value: Any) -> int:
    """A usage field as an int; 0 for a missing or non-numeric one (a proxy's ``null`` or ``"n/a"``)."""
    return int(value) if isinstance(value, (int, float)) and math.isfinite(value) else 0


def tokens_known(usage: dict[str, Any] | None, choices: list[Any]) -> bool:
    """Whether a reply says how many tokens it generated: ``usage.completion_tokens`` or vLLM's
    per-choice ``token_ids`` (a server may omit ``usage``; then the count is unknown, not 0)."""
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        return True
    return bool(choices) and all(isinstance(_get(choice, "token_ids"), list) for choice in choices)


# --- what to do about a refused request --------------------------------------------------------------


def status_hint(status: int, key: str, base_url: str, path: str, api_key_env: str | None) -> str:
    """The hint for a request the server refused with ``status`` (4xx, not retried); ``key`` is the recipe
    key of the backend table (``generation.backend``, ``verify.0.backend``, ...)."""
    if status in (401, 403):
        return key_hint(status, key, api_key_env)
    if status == 404:
        if not base_url.rstrip("/").endswith("/v1"):
            return f"{key}.base_url should end in /v1, as in {base_url.rstrip('/')}/v1: vLLM and most " \
                   f"OpenAI-compatible servers serve {path} there"
        return f"check {key}.base_url and {key}.model: the server has no {path} for this model; " \
               "a chat-only server needs chat mode"
    if status == 413:
        return "the request is too large for the server: shorten the prompt or lower max_tokens"
    return "fix the sampling settings or prompt the server names"


def key_hint(status: int, key: str, api_key_env: str | None) -> str:
    """What to do about a 401 (no or a wrong key) or a 403 (a key without access to the model)."""
    if not api_key_env:
        return f"the server wants an API key: set {key}.api_key_env to the variable holding it"
    if status == 403:
        return f"the key in ${api_key_env} may lack access to {key}.model; check both"
    return f"check that ${api_key_env}, named by {key}.api_key_env, holds a valid key for this server"
