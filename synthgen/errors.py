"""Errors users can act on: every one carries a message and a hint that says what to do."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterable, Iterator


class SynthgenError(Exception):
    """Base error. ``hint`` tells the user how to fix it; the CLI prints both on one line."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class RecipeError(SynthgenError):
    """A recipe problem; ``problems`` holds every ``file:table.key: message`` line found."""

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message, hint)
        self.problems = problems or [message]

    def __str__(self) -> str:
        lines = list(self.problems)
        if self.hint:
            lines[-1] = f"{lines[-1]} ({self.hint})"
        return "\n".join(lines)


class BackendError(SynthgenError):
    """The model backend could not be loaded or reached."""


class ModelError(SynthgenError):
    """An unknown model, or an embedded model that cannot be provisioned."""


class RunDirError(SynthgenError):
    """The output directory holds a different run."""


class MissingDependencyError(SynthgenError):
    """An optional heavy dependency is not installed."""


class GateFailure(SynthgenError):
    """The run finished but failed a quality gate; the CLI exits 3."""

    exit_code = 3


def require(module: str, extra: str):
    """Import ``module`` or raise a MissingDependencyError naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError(
            f"{module} is not installed ({exc})", hint=f"pip install 'synthgen[{extra}]'"
        ) from exc


def did_you_mean(name: str, choices: Iterable[str], show: Callable[[str], str] = repr) -> str:
    """``"did you mean 'x'? "`` for the closest of ``choices`` to ``name`` (``show`` formats it), else ''."""
    import difflib

    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f"did you mean {show(close[0])}? " if close else ""


class ArgumentError(SynthgenError):
    """A bad argument to a library call (``run_recipe(limit=0)``): the API's counterpart of a usage error."""

    exit_code = 2


# How a hint names a run option: ``generate``'s flag on the command line, ``run_recipe``'s keyword argument
# when Python called it. The outermost caller decides (``synthgen generate`` calls ``run_recipe``).
OPTION_SPELLINGS = {  # option: (command line, Python)
    "out": ("--out DIR", "out=DIR"),
    "overwrite": ("--overwrite", "overwrite=True"),
    "limit lowers it": ("; --limit N lowers it", ""),
    "no limit": ("without --limit", "limit=None"),
    "run again": ("run `synthgen generate` again", "call run_recipe again"),
    "set": ("--set", "override"),
    "set example": ("--set generation.target=10", "overrides=['generation.target=10']"),
    "executor ray": ("add --executor ray", "pass executor='ray'"),
    "address": ("--address", "address=HOST:PORT"),
    "address given": ("--address {}", "address={!r}"),  # .format(the address)
    "address example": ("--address 10.0.0.5:6379", "address='10.0.0.5:6379'"),
}
_SPELLING: contextvars.ContextVar[str | None] = contextvars.ContextVar("synthgen_option_spelling", default=None)


def option(name: str) -> str:
    """``name`` (a key of OPTION_SPELLINGS) as the caller spells it; the command line's unless Python called
    ``run_recipe``."""
    command_line, python = OPTION_SPELLINGS[name]
    return python if _SPELLING.get() == "python" else command_line


@contextlib.contextmanager
def options_spelled_for(caller: str) -> Iterator[None]:
    """Hints raised inside name options as ``caller`` ("command line" or "python") spells them, unless an
    outer caller already chose."""
    if _SPELLING.get() is not None:
        yield
        return
    token = _SPELLING.set(caller)
    try:
        yield
    finally:
        _SPELLING.reset(token)
