"""Secrets out of what synthgen writes or prints: a URL's ``user:password@`` and query values named like a
secret (``api_key=``, ``token=``), in manifests, cards, logs and error messages."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_SECRET_PARAMETER = re.compile(r"(key|token|secret|password|passwd|pwd|auth|authorization|signature|sig|"
                               r"credentials?|session|sessionid)$", re.IGNORECASE)


def redact_secrets(value: Any) -> Any:
    """``value`` (JSON-like) with every URL in its strings redacted by :func:`redact_url`."""
    if isinstance(value, str):
        return _URL.sub(lambda match: redact_url(match.group()), value) if "://" in value else value
    if isinstance(value, dict):
        return {key: redact_secrets(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_secrets(item) for item in value]
    return value


def redact_url(url: str) -> str:
    """``http://user:pw@host/v1?api_key=k&x=1`` → ``http://***@host/v1?api_key=***&x=1``: the user info and the
    values of query parameters named like a secret; a URL that cannot be parsed keeps its scheme only."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition('://')[0]}://{REDACTED}"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{REDACTED}@{host}" if "@" in parts.netloc else host
    query = "&".join(_redact_parameter(pair) for pair in parts.query.split("&")) if parts.query else parts.query
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _redact_parameter(pair: str) -> str:
    name, sep, value = pair.partition("=")
    return f"{name}={REDACTED}" if sep and value and _SECRET_PARAMETER.search(name) else pair
