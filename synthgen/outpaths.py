"""Output paths of the standalone data commands (``dedup``, ``mix``, ``corpus``): checked before any work,
so a path through a file is one clear line instead of a NotADirectoryError / FileExistsError traceback."""

from __future__ import annotations

from pathlib import Path

from .errors import SynthgenError


def check_parent(path: Path, option: str = "--out") -> None:
    """A SynthgenError when a folder above ``path`` exists but is a file."""
    for parent in Path(path).parents:
        if parent.exists():
            if not parent.is_dir():
                raise SynthgenError(f"{_named(option, path)}: {parent} is a file, not a folder",
                                    hint=f"choose a path under a folder for {option.rstrip('=')}")
            return


def check_out_dir(out: Path, option: str = "--out") -> None:
    """A SynthgenError when the output folder ``out``, or a folder above it, is a file."""
    check_parent(out, option)
    if Path(out).exists() and not Path(out).is_dir():
        raise SynthgenError(f"{_named(option, out)}: is a file, not a folder",
                            hint=f"choose a new or empty folder for {option.rstrip('=')}")


def _named(option: str, path: Path) -> str:
    """``--out x`` for a flag, ``out=x`` for a keyword argument (an ``option`` ending in ``=``)."""
    return f"{option}{path}" if option.endswith("=") else f"{option} {path}"


def prepare_out(out: Path, option: str = "--out") -> bool:
    """Create the output folder ``out``; True when this call created it (so a failed run may remove it)."""
    out = Path(out)
    check_out_dir(out, option)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def remove_if_empty(out: Path) -> None:
    """Remove ``out`` when a failed run left it empty (never a folder holding anything)."""
    try:
        Path(out).rmdir()
    except OSError:
        pass
