"""Meeting the server: is it up, does it serve the recipe's model, is it vLLM and which version.

``key`` is the recipe key of the backend table being probed (``generation.backend``, ``verify.0.backend``,
``steps.1.backend``): every hint names the setting of the backend that failed.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx  # at import, on the thread that builds the backend: imported lazily from worker threads it raced

from ..errors import BackendError
from ..redact import redact_url
from .base import DEFAULT_KEY
from .openai_wire import ServerInfo, key_hint, server_message, server_root

log = logging.getLogger(__name__)


def start_hint(key: str = DEFAULT_KEY) -> str:
    """What to do when nothing answers at the backend's base_url."""
    return ("start it with `vllm serve DIR` (or python -m vllm.entrypoints.openai.api_server --model DIR) "
            f"or fix {key}.base_url")


def probe_server(client: Any, base_url: str, model: str, key: str = DEFAULT_KEY,
                 api_key_env: str | None = None) -> ServerInfo:
    """GET /models through ``client`` (a server without that route is trusted, any other failure is an
    error), then, for a vLLM server, GET /version."""
    card = _model_card(client, base_url, model, key, api_key_env)
    info = ServerInfo(card)
    if info.is_vllm:
        info = ServerInfo(card, _vllm_version(client, base_url))
    return info


def _model_card(client: Any, base_url: str, model: str, key: str, api_key_env: str | None) -> dict[str, Any]:
    import openai

    url = redact_url(base_url)
    try:
        cards = [m.model_dump() for m in client.models.list().data]
    except openai.NotFoundError:
        log.warning("%s has no /models route; not checking that %s is served%s", url, model, _v1_note(base_url, key))
        return {"id": model}
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise BackendError(f"{url} rejected the API key: {server_message(exc.response)}",
                           hint=key_hint(exc.status_code, key, api_key_env)) from None
    except openai.APIStatusError as exc:
        raise BackendError(f"{url}/models answered HTTP {exc.status_code}: {server_message(exc.response)}") from None
    except openai.APIConnectionError as exc:
        raise BackendError(f"cannot reach {url}: {root_cause(exc)}", hint=start_hint(key)) from None
    card = next((c for c in cards if c.get("id") == model), None)
    if card is None:
        served = ", ".join(str(c.get("id")) for c in cards) or "none"
        raise BackendError(f"{url} does not serve model {model!r}; it serves: {served}",
                           hint=f"set {key}.model to one of the served names")
    return card


def _v1_note(base_url: str, key: str) -> str:
    """vLLM and most OpenAI-compatible servers answer under /v1 only: the likeliest cause of a 404."""
    if base_url.rstrip("/").endswith("/v1"):
        return ""
    return f" (vLLM and most OpenAI-compatible servers need {key}.base_url to end in /v1)"


def _vllm_version(client: Any, base_url: str) -> str | None:
    """vLLM's ``/version`` (at the server root, outside ``/v1``); None when it does not answer."""

    try:
        response = httpx.get(f"{server_root(base_url)}/version", headers=client.auth_headers, timeout=5.0)
        version = response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(version) if version else None


def root_cause(exc: BaseException) -> str:
    """The root cause's text ("Connection refused"), not the client's generic "Connection error."."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def is_refused(exc: BaseException) -> bool:
    """True when nothing listens at the address (a failed connect, not a timeout). Matched by name along
    the chain: the client's transport may be httpx or a renamed copy of it (``httpx2``)."""
    chain, seen = exc, set()
    while chain is not None and id(chain) not in seen:
        if isinstance(chain, ConnectionRefusedError) or type(chain).__name__ == "ConnectError":
            return True
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    return False
