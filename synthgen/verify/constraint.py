"""What a json verifier's ``constrain = true`` did: whether the backend that wrote the checked column
actually decoded under the schema, so the report's invalid-JSON rates compare runs truthfully.

A backend says it with ``enforces(kind) -> bool | None`` (``kind``: ``json``, ``choice`` or ``regex``; None
when it cannot know yet, e.g. a server that was never started in this process). A plugin without the
method enforces nothing as far as the report can tell.
"""

from __future__ import annotations

from typing import Any


def backend_enforces(backend: Any, kind: str) -> bool | None:
    """Whether ``backend`` decodes under a ``kind`` constraint (its own ``enforces``; False without one)."""
    enforces = getattr(backend, "enforces", None)
    return enforces(kind) if callable(enforces) else False


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
