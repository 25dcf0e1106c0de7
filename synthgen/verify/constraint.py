"""What a json verifier's ``constrain = true`` did: whether the backend that wrote the checked column
actually decoded under the schema, so the report's invalid-JSON rates compare runs truthfully.

A backend may say it itself with ``enforces(kind) -> bool | None`` (``kind``: ``json``, ``choice`` or
``regex``; None when it cannot know yet). For the built-ins without that method the answer is known here:
vLLM offline enforces every constraint; an OpenAI-compatible server enforces one when it is vLLM, or a JSON
Schema in chat mode (``response_format``), which it can only tell once started; a Ray engine pool when its
replicas run vLLM; the scripted and replay backends, and plugins that do not say, never.
"""

from __future__ import annotations

from typing import Any

ENFORCING = frozenset({"vllm"})


def backend_enforces(backend: Any, kind: str) -> bool | None:
    """Whether ``backend`` decodes under a ``kind`` constraint; None when it cannot be known (a server
    that was never started in this process)."""
    enforces = getattr(backend, "enforces", None)
    if callable(enforces):
        return enforces(kind)
    name = getattr(backend, "name", None)
    if name in ENFORCING:
        return True
    if name == "openai":
        return _server_enforces(backend, kind)
    if name == "ray":
        return True if getattr(getattr(backend, "config", None), "type", None) in ENFORCING else None
    return False


def _server_enforces(backend: Any, kind: str) -> bool | None:
    from ..backends.openai_wire import constraint_fields

    server = getattr(backend, "server", None)
    if server is None:
        return None
    return constraint_fields(kind, {}, server, getattr(backend, "mode", None) == "chat") is not None


def json_constraints(stages: list[Any]) -> dict[str, dict[str, Any]]:
    """For each json verifier stage of a run's pipeline: was its schema set as the writing step's decoding
    constraint (``requested``), did that step's backend enforce it (``enforced``), and which backend it was."""
    from .structured import JsonSchemaVerifier

    facts = {}
    for i, stage in enumerate(stages):
        if isinstance(getattr(stage, "verifier", None), JsonSchemaVerifier):
            runtime = writer_runtime(stages[:i], stage.field or "text")
            if runtime is not None:
                facts[stage.name] = constraint_facts(runtime)
    return facts


def writer_runtime(before: list[Any], field: str) -> Any:
    """The runtime of the LLM step that wrote ``field``: the step of that name, else the last LLM step
    before the verifier (a step writing several columns)."""
    steps = [s for s in before if getattr(getattr(s, "runtime", None), "sampling", None) is not None]
    named = [s for s in steps if s.name == field]
    chosen = (named or steps or [None])[-1]
    return None if chosen is None else chosen.runtime


def constraint_facts(runtime: Any) -> dict[str, Any]:
    requested = runtime.sampling.json_schema is not None
    backend = runtime.backend
    return {"requested": requested, "enforced": backend_enforces(backend, "json") if requested else False,
            "backend": getattr(backend, "name", type(backend).__name__)}


def constraint_phrase(facts: dict[str, Any] | None) -> tuple[bool | None, str]:
    """``(constrained, what the report says)``: constrained only when requested and enforced."""
    if not facts or not facts["requested"]:
        return False, "not requested"
    if facts["enforced"] is None:
        return None, f"requested, enforcement unknown ({facts['backend']} not started)"
    if facts["enforced"]:
        return True, f"enforced by {facts['backend']}"
    return False, f"requested, not enforced by {facts['backend']}"
