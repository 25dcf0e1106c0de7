"""Meeting the server: is it up, does it serve the recipe's model, is it vLLM and which version."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import BackendError
from .openai_wire import ServerInfo, redact_url, server_message, server_root

log = logging.getLogger(__name__)


def probe_server(client: Any, base_url: str, model: str, start_hint: str) -> ServerInfo:
    """GET /models through ``client`` (a server without that route is trusted, any other failure is an
    error), then, for a vLLM server, GET /version."""
    card = _model_card(client, base_url, model, start_hint)
    info = ServerInfo(card)
    if info.is_vllm:
        info = ServerInfo(card, _vllm_version(client, base_url))
    return info


def _model_card(client: Any, base_url: str, model: str, start_hint: str) -> dict[str, Any]:
    import openai

    url = redact_url(base_url)
    try:
        cards = [m.model_dump() for m in client.models.list().data]
    except openai.NotFoundError:
        log.warning("%s has no /models route; not checking that %s is served", url, model)
        return {"id": model}
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise BackendError(f"{url} rejected the API key: {server_message(exc.response)}",
                           hint="set generation.backend.api_key_env to the variable holding a valid key") from None
    except openai.APIStatusError as exc:
        raise BackendError(f"{url}/models answered HTTP {exc.status_code}: {server_message(exc.response)}") from None
    except openai.APIConnectionError as exc:
        raise BackendError(f"cannot reach {url}: {_cause(exc)}", hint=start_hint) from None
    card = next((c for c in cards if c.get("id") == model), None)
    if card is None:
        served = ", ".join(str(c.get("id")) for c in cards) or "none"
        raise BackendError(f"{url} does not serve model {model!r}; it serves: {served}",
                           hint="set generation.backend.model to one of the served names")
    return card


def _vllm_version(client: Any, base_url: str) -> str | None:
    """vLLM's ``/version`` (at the server root, outside ``/v1``); None when it does not answer."""
    import httpx

    try:
        response = httpx.get(f"{server_root(base_url)}/version", headers=client.auth_headers, timeout=5.0)
        version = response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(version) if version else None


def _cause(exc: BaseException) -> str:
    """The root cause's text ("Connection refused"), not the client's generic "Connection error."."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
