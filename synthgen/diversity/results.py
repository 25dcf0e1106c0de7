"""What a metric returns: a value, or the reason it could not be computed (never a silent pass)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable


class NotComputed(ValueError):
    """Raised by a metric whose input cannot support it; the message says why and what to do."""


@dataclass(frozen=True)
class MetricResult:
    """One metric on one sample: ``value`` is None exactly when ``reason`` says why it was not computed."""

    name: str
    value: float | None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def computed(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.name, "value": self.value, "reason": self.reason, "details": jsonable(self.details)}


def measure(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> MetricResult:
    """Run ``func``; a float (or ``(float, details)``) becomes a value, :class:`NotComputed` a reason."""
    try:
        out = func(*args, **kwargs)
    except NotComputed as exc:
        return MetricResult(name, None, str(exc))
    value, details = out if isinstance(out, tuple) else (out, {})
    value = float(value)
    if not math.isfinite(value):
        return MetricResult(name, None, f"{name} is not finite ({value})", dict(details))
    return MetricResult(name, value, None, dict(details))


def not_computed(name: str, reason: str) -> MetricResult:
    return MetricResult(name, None, reason)


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, or None when either is missing or the reference is 0."""
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def jsonable(value: Any) -> Any:
    """Plain Python scalars/lists/dicts (numpy numbers and arrays converted) for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
