"""Where provisioned models live, and the public verbs: resolve, pull, list, verify.

Layout: ``synthgen_home()/models/<name>/`` holds an HF folder plus ``synthgen-model.json``. A build
happens in ``models/.<name>.tmp-<pid>/`` and is renamed into place only when complete and verified,
under an ``fcntl`` lock so two processes never provision the same model at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import ModelError
from .integrity import folder_size, read_manifest, verify_folder, write_manifest
from .registry import REGISTRY, ModelSpec, find_spec, get_spec
from ..atomic import replace_folder

PULL_HINT = "run `synthgen models pull --force`"


def synthgen_home() -> Path:
    """``$SYNTHGEN_HOME``, else ``~/.cache/synthgen``."""
    env = os.environ.get("SYNTHGEN_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "synthgen"


def model_dir(name: str) -> Path:
    """The folder a registered model is (or would be) provisioned into."""
    return synthgen_home() / "models" / get_spec(name).name


def resolve_model(name_or_path: str | None, pull: bool = True) -> Path:
    """The local HF folder for a model name or path.

    None, "embedded" or a registered name → the provisioned folder (built on first use when ``pull``;
    a damaged one is rebuilt). An existing directory with a ``config.json`` → itself.
    """
    spec = find_spec(name_or_path)
    if spec is not None:
        return _resolve_registered(spec, pull)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file():
            return path.resolve()
        raise ModelError(f"'{name_or_path}' is a folder but has no config.json", hint=_unknown_hint())
    raise ModelError(f"unknown model '{name_or_path}'", hint=_unknown_hint())


def _unknown_hint() -> str:
    return f"use a local folder with HF weights, or one of: {', '.join(REGISTRY)} (see `synthgen models list`)"


def _resolve_registered(spec: ModelSpec, pull: bool) -> Path:
    folder = model_dir(spec.name)
    problems = verify_folder(folder)
    if not problems:
        return folder
    if not pull and not folder.exists():
        raise ModelError(f"model '{spec.name}' is not provisioned", hint="run `synthgen models pull`")
    if not pull:
        raise ModelError(f"model '{spec.name}' at {folder} is damaged: {problems[0]}", hint=PULL_HINT)
    if folder.exists():
        _log(f"model '{spec.name}' at {folder} is damaged ({problems[0]}); rebuilding it")
    return pull_model(spec.name, force=folder.exists())


def pull_model(name: str = "gemma3-270m", force: bool = False, progress: bool = True) -> Path:
    """Provision a registered model into :func:`model_dir` and return the folder.

    Already present and intact (fast size check) → returned as is, unless ``force``.
    """
    spec = get_spec(name)
    folder = model_dir(spec.name)
    log = _log if progress else (lambda message: None)
    with _provision_lock(folder, log):
        if not force and not verify_folder(folder):
            return folder
        _remove_stale(folder)
        _build_into(spec, folder, log)
    return folder


def _build_into(spec: ModelSpec, folder: Path, log: Callable[[str], None]) -> None:
    """Build in a temp folder next to the target, verify it, then swap it in."""
    from .embedded import build_embedded

    started = time.monotonic()
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        log(f"provisioning model '{spec.name}' into {folder}")
        fields = build_embedded(spec, tmp, log)
        write_manifest(tmp, name=spec.name, **fields)
        _raise_if_damaged(tmp, full=True)
        replace_folder(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"model '{spec.name}' ready in {time.monotonic() - started:.0f} s ({folder_size(folder) / 1e6:.0f} MB)")


def _remove_stale(folder: Path) -> None:
    """Delete temp and moved-aside folders a killed build left behind (safe: we hold the lock)."""
    for pattern in (f".{folder.name}.tmp-*", f".{folder.name}.old-*"):
        for path in folder.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _provision_lock(folder: Path, log: Callable[[str], None]) -> Iterator[None]:
    """An exclusive ``flock`` on ``models/.<name>.lock``; waits (saying so) for another provisioner."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process provisioning {folder.name}")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def verify_model(name_or_path: str | None = None, full: bool = True) -> list[str]:
    """Problems with a provisioned model folder (empty = intact); ``full`` rehashes every file."""
    spec = find_spec(name_or_path)
    folder = model_dir(spec.name) if spec else Path(name_or_path).expanduser()
    return verify_folder(folder, full=full)


def _raise_if_damaged(folder: Path, full: bool) -> None:
    problems = verify_folder(folder, full=full)
    if problems:
        raise ModelError(f"model folder {folder} failed verification: {'; '.join(problems)}", hint=PULL_HINT)


def list_models() -> list[dict[str, Any]]:
    """One row per registered model: name, aliases, description, path, present, size_bytes, verified
    (fast size check), problems (what the check found; empty when verified or absent) and fingerprint
    (identity of the weights, from the manifest)."""
    return [_model_row(spec) for spec in REGISTRY.values()]


def _model_row(spec: ModelSpec) -> dict[str, Any]:
    folder = model_dir(spec.name)
    present = folder.is_dir()
    manifest = read_manifest(folder) if present else None
    problems = verify_folder(folder) if present else []
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "description": spec.description,
        "path": str(folder),
        "present": present,
        "size_bytes": folder_size(folder) if present else 0,
        "verified": present and not problems,
        "problems": problems,
        "fingerprint": manifest.get("fingerprint") if manifest else None,
    }


def model_state(row: dict[str, Any]) -> tuple[str, str | None]:
    """A :func:`list_models` row's state for people (``ok``, ``not pulled`` or ``damaged``) and, when
    damaged, what is wrong and the command that fixes it."""
    if not row["present"]:
        return "not pulled", None
    if row["verified"]:
        return "ok", None
    return "damaged", f"damaged: {row['problems'][0]}; fix: synthgen models pull {row['name']} --force"


def model_manifest(path: Path) -> dict[str, Any] | None:
    """The synthgen manifest of a model folder, or None for a folder synthgen did not build."""
    return read_manifest(Path(path))


def _log(message: str) -> None:
    print(f"synthgen: {message}", file=sys.stderr, flush=True)
