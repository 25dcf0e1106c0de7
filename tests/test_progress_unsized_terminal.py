"""A terminal that reports 0 columns and 0 rows (a pseudo-terminal nobody sized: some CI runners, `script`):
tqdm hid every bar there and drew only its closing newline. Bars now get a fixed size on such a terminal."""

from __future__ import annotations

import os
import select

import pytest

from synthgen.progress import FALLBACK_COLUMNS, FALLBACK_ROWS, PhaseProgress, bar_width

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


def read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        data = os.read(fd, 65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def test_an_unsized_terminal_gets_a_fixed_size_and_a_sized_one_follows_it() -> None:
    master, slave = os.openpty()  # a new pseudo-terminal is 0 x 0
    try:
        with os.fdopen(os.dup(slave), "w") as terminal:
            assert os.get_terminal_size(terminal.fileno()) == (0, 0)
            assert bar_width(terminal) == {"dynamic_ncols": False, "ncols": FALLBACK_COLUMNS, "nrows": FALLBACK_ROWS}
        with open(os.devnull, "w") as not_a_terminal:
            assert bar_width(not_a_terminal) == {"dynamic_ncols": True}
    finally:
        os.close(master)
        os.close(slave)


def test_a_phase_bar_is_drawn_on_an_unsized_terminal() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(os.dup(slave), "w") as terminal:
            with PhaseProgress("dedup", file=terminal) as hook:
                for done in range(0, 101, 50):
                    hook("write", done, 100)
            terminal.flush()
        shown = read_all(master)
    finally:
        os.close(master)
        os.close(slave)
    assert "dedup: write: 100%" in shown and "100/100" in shown
    assert "dedup: done in" in shown
