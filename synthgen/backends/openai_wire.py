"""What goes over the wire to an OpenAI-compatible server, and what comes back.

Pure functions, no client: which server we talk to (:class:`ServerInfo`), the request's standard
arguments and its ``extra_body`` (vLLM-only fields, sent to vLLM servers only), ``Retry-After`` in all
its forms, and the choices of a reply turned into :class:`~synthgen.records.Completion` objects.

Why vLLM fields go to vLLM only: a strict server (OpenAI itself) rejects unknown fields with HTTP 400,
and a lenient one ignores them, so a constraint would silently do nothing. We know a server is vLLM
when its ``/models`` cards say ``owned_by: "vllm"`` (vLLM's default); ``/version`` then gives the
version, which picks the constraint field: ``structured_outputs`` from vLLM 0.10.2 on, the older
``guided_json`` / ``guided_choice`` / ``guided_regex`` before (vLLM 0.12 removed those and ignores
them without an error, so sending the wrong one would fail open).
"""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..records import Completion

RETRY_AFTER_CAP_S = 120.0
STRUCTURED_OUTPUTS_SINCE = (0, 10, 2)


def redact_url(url: str) -> str:
    """The URL without user:password, so it can go into logs and manifests."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


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
