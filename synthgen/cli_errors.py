"""The one error adapter every ``synthgen`` command uses: library errors become ``Error: …`` lines with
the error's exit code.

Exit codes (DESIGN §5): 1 for an error, 2 for a usage error (click's own), 3 for a run that finished but
failed a quality gate (:class:`~synthgen.errors.GateFailure`), 130 for Ctrl-C. Light to import: click
and synthgen.errors only.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from .errors import RecipeError, SynthgenError, options_spelled_for

INTERRUPTED_EXIT = 130


class CommandError(click.ClickException):
    """A SynthgenError on its way out, keeping its exit code. A recipe with several problems prints one
    problem per line (``file:table.key: message``) so editors and grep can use them."""

    def __init__(self, error: SynthgenError):
        super().__init__(error_text(error))
        self.exit_code = error.exit_code


def error_text(error: SynthgenError) -> str:
    if isinstance(error, RecipeError) and len(error.problems) > 1:
        return f"{len(error.problems)} problems:\n{error}"
    return str(error)


def reports_errors(func: Callable[..., Any] | None = None, *, interrupted: str = "Interrupted.") -> Any:
    """Decorate a click command's callback (below the click decorators). ``interrupted`` is printed on
    Ctrl-C before exiting 130 (``generate`` says how to resume)."""

    def decorate(callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with options_spelled_for("command line"):  # hints name flags, not run_recipe's arguments
                    return callback(*args, **kwargs)
            except SynthgenError as exc:
                raise CommandError(exc) from None
            except KeyboardInterrupt:
                click.echo(interrupted, err=True)
                raise click.exceptions.Exit(INTERRUPTED_EXIT) from None

        return wrapper

    return decorate(func) if func is not None else decorate
