"""A quiet console: library chatter goes to ``<run>/logs/libraries.log``; the terminal keeps synthgen's
progress bar, its warnings and its one-line summary (``--verbose`` shows everything).

Four channels carry library output, and :func:`quiet_console` routes each of them to the log file:

1. ``logging`` records of library loggers (vLLM, torch, transformers, datasets, huggingface_hub, httpx,
   openai, ...): their handlers are swapped for one file handler while the block runs;
2. Python warnings (``FutureWarning``, ``DeprecationWarning``): ``logging.captureWarnings``;
3. vLLM's own logging configuration, applied at import in this process *and* in its engine-core and
   worker processes: ``VLLM_LOGGING_CONFIG_PATH`` names a dictConfig that writes to the log file (child
   processes read it from the inherited environment);
4. file descriptors 1 and 2, which C/C++ code (torch's ``[W ... utils.cpp]`` lines, oneDNN) and every child
   process write to: they are pointed at the log file with ``dup2``, while ``sys.stdout`` and
   ``sys.stderr`` are rebound to copies of the original terminal descriptors, so Python-level output
   (click's summary, tqdm's bar, synthgen's warnings) still reaches the terminal.

Step 4 needs real descriptors: under pytest's CliRunner or in Jupyter, where ``sys.stderr`` is not fd 2,
it is skipped and steps 1-3 still apply. ``verbose=True`` changes nothing at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

LOG_NAME = "libraries.log"
RUN_MARKER = "run.json"  # synthgen.rundir.STATE: the file that makes a folder a synthgen run
LIBRARY_LOGGERS = ("vllm", "torch", "transformers", "triton", "datasets", "huggingface_hub", "sentence_transformers",
                   "tokenizers", "urllib3", "httpx", "httpcore", "openai", "filelock", "fsspec", "numexpr",
                   "matplotlib", "PIL", "asyncio", "py.warnings")
_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"


@dataclass
class LibraryLog:
    """Where the library log is: a temp file during the block, ``<run>/logs/libraries.log`` after it once
    the run directory is synthgen's (``path`` is then updated)."""

    path: Path


@contextlib.contextmanager
def quiet_console(run_dir: str | Path, verbose: bool = False, marker: str = RUN_MARKER) -> Iterator[LibraryLog | None]:
    """Route library output to a log for the block; yields a :class:`LibraryLog` (None when ``verbose``).

    A resumed run (``run_dir/marker`` exists) appends to ``run_dir/logs/libraries.log`` from the start.
    A new run logs to a temp file, moved there when the block ends and ``run_dir/marker`` exists: creating
    ``logs/`` earlier would make a fresh run directory look foreign to synthgen's ownership check, and a
    foreign folder must not receive our files. On an error the log's location is printed. Everything is restored
    on exit, also after an error or Ctrl-C."""
    if verbose:
        yield None
        return
    run_dir = Path(run_dir)
    owned = (run_dir / marker).is_file()  # a resumed run: log in place from the start
    folder = run_dir / "logs" if owned else Path(tempfile.mkdtemp(prefix="synthgen-logs-"))
    log = LibraryLog(folder / LOG_NAME)
    log.path.parent.mkdir(parents=True, exist_ok=True)
    failed = True
    try:
        with _routed(log.path):
            yield log
        failed = False
    finally:
        if not owned:
            log.path = keep_log(log.path, run_dir, marker)
        if failed and log.path.is_file():
            print(f"library log: {log.path}", file=sys.stderr)


@contextlib.contextmanager
def _routed(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(_FORMAT))
    with contextlib.ExitStack() as stack:
        stack.callback(handler.close)
        stack.enter_context(_routed_loggers(handler))
        stack.enter_context(_captured_warnings())
        stack.enter_context(_vllm_logging_config(path))
        stack.enter_context(_redirected_descriptors(path))
        yield


def keep_log(path: Path, run_dir: Path, marker: str) -> Path:
    """Append the temp log to ``run_dir/logs/`` when ``run_dir`` is synthgen's; returns where it is now."""
    if not path.is_file() or path.stat().st_size == 0:  # nothing was logged: leave nothing behind
        shutil.rmtree(path.parent, ignore_errors=True)
        return path
    if not (run_dir / marker).is_file():
        return path
    dest = run_dir / "logs" / LOG_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as source, dest.open("ab") as target:
        shutil.copyfileobj(source, target)
    shutil.rmtree(path.parent, ignore_errors=True)
    return dest


@contextlib.contextmanager
def _routed_loggers(handler: logging.Handler) -> Iterator[None]:
    saved = {}
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate)
        logger.handlers, logger.propagate = [handler], False
    try:
        yield
    finally:
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            # vLLM configures its logger on first import (inside the block): keep its level, drop our file
            logger.handlers = handlers or [h for h in logger.handlers if h is not handler]
            logger.propagate = propagate


@contextlib.contextmanager
def _captured_warnings() -> Iterator[None]:
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)


@contextlib.contextmanager
def _vllm_logging_config(path: Path) -> Iterator[None]:
    """vLLM's logging, in this process and its children, as a dictConfig writing to ``path`` (vLLM reads
    ``VLLM_LOGGING_CONFIG_PATH`` when it is imported; an explicit one set by the user is kept)."""
    if os.environ.get("VLLM_LOGGING_CONFIG_PATH"):
        yield
        return
    config_path = path.with_name("vllm-logging.json")
    level = os.environ.get("VLLM_LOGGING_LEVEL", "INFO").upper()
    config = {"version": 1, "disable_existing_loggers": False,
              "formatters": {"plain": {"format": _FORMAT}},
              "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path), "formatter": "plain",
                                    "encoding": "utf-8", "level": level}},
              "loggers": {"vllm": {"handlers": ["file"], "level": level, "propagate": False}}}
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(config_path)
    try:
        yield
    finally:
        os.environ.pop("VLLM_LOGGING_CONFIG_PATH", None)


def _real_fd(stream: object, fd: int) -> bool:
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def _redirected_descriptors(path: Path) -> Iterator[None]:
    """fd 1 and 2 → the log file; ``sys.stdout`` / ``sys.stderr`` → the terminal they were (see module doc)."""
    if not (_real_fd(sys.stdout, 1) and _real_fd(sys.stderr, 2)):
        yield
        return
    originals = sys.stdout, sys.stderr
    for stream in originals:
        stream.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    consoles = [open(fd, "w", buffering=1, encoding=s.encoding, errors=s.errors, closefd=False)
                for fd, s in zip(saved, originals)]
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        sys.stdout, sys.stderr = consoles
        yield
    finally:
        for console in consoles:
            with contextlib.suppress(OSError, ValueError):
                console.flush()
        sys.stdout, sys.stderr = originals
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
