"""The one error adapter every ``synthgen`` command uses: library errors become ``Error: …`` lines with
the error's exit code.

An OSError that reaches a command (a folder that does not exist, a path through a file, no permission)
becomes one line naming the path and the OS reason, exit 1; ``--verbose`` (where a command has it) keeps
the traceback.

Exit codes (DESIGN §5): 1 for an error, 2 for a usage error (click's own), 3 for a run that finished but
failed a quality gate (:class:`~synthgen.errors.GateFailure`), 130 for Ctrl-C, 143 for SIGTERM. Light to
import: click and synthgen.errors only.

SIGTERM (``kill``, a cancelled CI job, ``docker stop``) is taken like Ctrl-C while a command runs: its
``finally`` clauses and ``with`` blocks run, so ``synthgen dedup`` stops its worker processes and removes
its scratch files instead of vanishing and leaving forked workers running. A second SIGTERM kills at once.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable

import click

from .errors import RecipeError, SynthgenError, options_spelled_for

INTERRUPTED_EXIT = 130
TERMINATED_EXIT = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt so that the same clean-up runs."""


@contextlib.contextmanager
def sigterm_interrupts() -> Any:
    """For the block, SIGTERM raises :class:`Terminated` in this process's main thread (once: the handler is
    reset first, so a second SIGTERM kills at once). A forked worker inherits the handler: there it dies by
    the signal as it would have (``multiprocessing`` stops its pool's workers with SIGTERM)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)
        if os.getpid() != owner:
            os.kill(os.getpid(), signum)
            return
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def os_error_text(exc: OSError) -> str:
    """One line for an OSError: the path(s) it names, the OS reason and, where obvious, what to do."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return f"{reason} ({type(exc).__name__})" if exc.strerror else f"{type(exc).__name__}: {reason}"
    path = os.fsdecode(exc.filename) if isinstance(exc.filename, (str, bytes)) else str(exc.filename)
    shown = f"{path} -> {os.fsdecode(exc.filename2)}" if exc.filename2 is not None else path
    exists = os.path.lexists(path)
    verb = "cannot write" if not exists and exc.errno != errno.ENOENT else "cannot open"
    hint = _os_error_hint(exc.errno, Path(path), exists)
    return f"{verb} {shown}: {reason}" + (f" ({hint})" if hint else "")


def _os_error_hint(code: int | None, path: Path, exists: bool) -> str | None:
    if code == errno.ENOENT and not exists:
        missing = next((p for p in reversed(path.parents) if not p.exists()), None)
        if missing is not None:
            return f"folder {missing} does not exist; create it or choose another path"
        return "check the path; if it is an output, choose a folder that allows new files"
    if code == errno.ENOTDIR:
        blocking = next((p for p in path.parents if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            return f"{blocking} is a file, not a folder; choose a path under a folder"
        return "a part of the path is a file, not a folder"
    if code == errno.EISDIR:
        return "it is a folder; give a file name"
    if code in (errno.EACCES, errno.EPERM):
        return "no permission there; choose a path you may write to, or fix its permissions"
    if code == errno.EROFS:
        return "the file system is read-only; choose another path"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full; free space or choose another path"
    return None


def reports_errors(func: Callable[..., Any] | None = None, *, interrupted: str = "Interrupted.") -> Any:
    """Decorate a click command's callback (below the click decorators). ``interrupted`` is printed on
    Ctrl-C before exiting 130 (``generate`` says how to resume)."""

    def decorate(callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with sigterm_interrupts(), options_spelled_for("command line"):  # hints name flags, not arguments
                    return callback(*args, **kwargs)
            except SynthgenError as exc:
                raise CommandError(exc) from None
            except OSError as exc:
                if kwargs.get("verbose"):  # --verbose keeps the traceback: a real bug stays findable
                    raise
                raise click.ClickException(os_error_text(exc)) from None
            except KeyboardInterrupt as exc:
                click.echo(interrupted, err=True)
                raise click.exceptions.Exit(TERMINATED_EXIT if isinstance(exc, Terminated) else INTERRUPTED_EXIT) from None

        return wrapper

    return decorate(func) if func is not None else decorate
