"""The lineage ledger: parents and depth, best, the text tree, atomic writes, versions, locking, the CLI."""

from __future__ import annotations

import json
import multiprocessing
import os

import pytest
from click.testing import CliRunner

from synthgen.lineage import FORMAT_VERSION, LEDGER_FILE, Ledger, LineageEntry, LineageError
from synthgen.lineage.cli import lineage_command


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger.open(tmp_path)
    ledger.add(LineageEntry("real", counts={"rows": 100}))
    ledger.add(LineageEntry("gen-1", ("real",), model="gemma3-270m", recipe_hash="0123456789abcdef",
                            counts={"kept": 50}, metrics={"coverage": 0.95}, run_dir=tmp_path / "runs" / "g1"))
    ledger.add(LineageEntry("gen-2", ("gen-1",), metrics={"coverage": 0.91}))
    ledger.add(LineageEntry("gen-2b", ("gen-1",), metrics={"coverage": 0.97}))
    return ledger


def test_entries_parents_children_and_derived_depth(ledger, tmp_path):
    merged = ledger.add(LineageEntry("gen-3", ("gen-2", "gen-2b", "real")))
    assert [e.depth for e in ledger] == [0, 1, 2, 2, 3] and merged.created_at
    assert ledger.get("real").is_real and ledger.get("gen-1").run_dir == str(tmp_path / "runs" / "g1")
    assert [e.id for e in ledger.children("gen-1")] == ["gen-2", "gen-2b"]
    assert [e.id for e in ledger.roots()] == ["real"] and ledger.descendants("gen-2") == {"gen-3"}
    assert [e.id for e in ledger.chain("gen-3")] == ["real", "gen-1", "gen-2", "gen-3"]
    reopened = Ledger.open(tmp_path / LEDGER_FILE)
    assert reopened.entries == ledger.entries and json.loads((tmp_path / LEDGER_FILE).read_text())["version"] == 1
    assert ledger.add(LineageEntry("teacher-run", depth=1)).depth == 1  # a root may be synthetic


def test_missing_parent_and_duplicate_ids_are_refused_without_touching_the_file(ledger):
    before = ledger.path.read_bytes()
    with pytest.raises(LineageError, match="parent generation 'gen-9' is not in") as err:
        ledger.add(LineageEntry("gen-10", ("gen-9",)))
    assert "record the parent first" in err.value.hint
    with pytest.raises(LineageError, match="already recorded"):
        ledger.add(LineageEntry("gen-2"))
    with pytest.raises(LineageError, match="depth 0 means human"):
        ledger.add(LineageEntry("gen-x", ("gen-1",), depth=0))
    with pytest.raises(LineageError, match="own parent"):
        ledger.add(LineageEntry("gen-y", ("gen-y",)))
    with pytest.raises(LineageError, match="did you mean 'gen-2'"):
        ledger.get("gen-2c")
    assert ledger.path.read_bytes() == before


def test_replace_updates_in_place_but_cannot_make_a_loop(ledger):
    ledger.add(LineageEntry("gen-2", ("gen-1",), metrics={"coverage": 0.5}), replace_existing=True)
    assert ledger.get("gen-2").metrics == {"coverage": 0.5} and [e.id for e in ledger][2] == "gen-2"
    with pytest.raises(LineageError, match="loop"):
        ledger.add(LineageEntry("gen-1", ("gen-2",)), replace_existing=True)


def test_best_metric_and_mark_best(ledger, tmp_path):
    ledger.add(LineageEntry("gen-3", ("gen-2b",), metrics={"coverage": float("nan"), "loss": 2.0}))
    assert ledger.best("coverage").id == "gen-2b" and ledger.get("gen-3").metrics["coverage"] is None
    assert ledger.best("coverage", higher_is_better=False).id == "gen-2" and ledger.best("nothing") is None
    ledger.mark_best("gen-2b")
    assert Ledger.open(tmp_path).best_id == "gen-2b"
    with pytest.raises(LineageError, match="no generation 'gen-7'"):
        ledger.mark_best("gen-7")


def test_tree_is_printable(ledger):
    ledger.add(LineageEntry("gen-3", ("gen-2", "gen-2b")))
    ledger.mark_best("gen-2b")
    assert ledger.tree().splitlines() == [
        "real  real data  rows=100",
        "└── gen-1  depth 1  model=gemma3-270m  recipe=01234567  kept=50  coverage=0.95",
        "    ├── gen-2  depth 2  coverage=0.91",
        "    │   └── gen-3  depth 3",
        "    └── gen-2b  depth 2  coverage=0.97  ★ best",
        "        └── gen-3 → see under gen-2",
    ]


def test_a_failed_rename_leaves_the_old_ledger_intact(ledger, monkeypatch):
    before = ledger.path.read_bytes()

    def crash(src, dst):
        raise OSError("disk died mid-rename")

    monkeypatch.setattr("synthgen.lineage.store.os.replace", crash)
    with pytest.raises(LineageError, match="previous ledger is intact"):
        ledger.add(LineageEntry("gen-3", ("gen-2",)))
    monkeypatch.undo()
    assert ledger.path.read_bytes() == before and "gen-3" not in Ledger.open(ledger.path.parent)
    assert "gen-3" not in ledger  # the in-memory snapshot did not move on either
    assert not [p for p in ledger.path.parent.iterdir() if ".tmp" in p.name]


def test_a_write_that_fails_half_way_leaves_the_old_ledger_intact(ledger):
    before = ledger.path.read_bytes()
    with pytest.raises(LineageError, match="previous ledger is intact"):
        ledger.add(LineageEntry("gen-3", ("gen-2",), extra={"not json": object()}))
    assert ledger.path.read_bytes() == before


def test_a_ledger_from_a_newer_version_is_refused(ledger):
    state = json.loads(ledger.path.read_text())
    ledger.path.write_text(json.dumps({**state, "version": FORMAT_VERSION + 1}))
    before = ledger.path.read_bytes()
    with pytest.raises(LineageError, match="written by a newer synthgen") as err:
        Ledger.open(ledger.path.parent)
    assert "upgrade synthgen" in err.value.hint
    with pytest.raises(LineageError, match="newer synthgen"):
        ledger.add(LineageEntry("gen-3", ("gen-2",)))  # a stale handle re-reads before writing
    assert ledger.path.read_bytes() == before


@pytest.mark.parametrize("text, message", [("{not json", "cannot read"), ('{"entries": []}', "not a synthgen lineage"),
                                           ('{"format": "synthgen-lineage", "version": "1", "entries": []}', "not valid")])
def test_damaged_ledgers_are_refused(tmp_path, text, message):
    (tmp_path / LEDGER_FILE).write_text(text)
    with pytest.raises(LineageError, match=message):
        Ledger.open(tmp_path)


def test_two_handles_never_lose_each_others_entries(ledger):
    other = Ledger.open(ledger.path.parent)
    ledger.add(LineageEntry("gen-3a", ("gen-2",)))
    other.add(LineageEntry("gen-3b", ("gen-2",)))
    assert {"gen-3a", "gen-3b"} <= {e.id for e in Ledger.open(ledger.path.parent)}


def _add_many(folder, worker):
    ledger = Ledger.open(folder)
    for i in range(5):
        ledger.add(LineageEntry(f"w{worker}-{i}", ("real",)))


def test_concurrent_processes_are_serialised_by_the_lock(ledger):
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    workers = [context.Process(target=_add_many, args=(ledger.path.parent, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert all(worker.exitcode == 0 for worker in workers)
    assert len(ledger.refresh()) == 4 + 20


def test_bad_entries_are_refused():
    for bad in (LineageEntry(""), LineageEntry("a", counts={"rows": -1}), LineageEntry("a", metrics={"m": "high"}),
                LineageEntry("a", depth=-1), LineageEntry("a", ("p", "p"))):
        with pytest.raises(LineageError):
            bad.checked()


# --- synthgen lineage -------------------------------------------------------------------------------


def test_cli_prints_the_tree_and_json(ledger):
    ledger.mark_best("gen-2b")
    result = CliRunner().invoke(lineage_command, [str(ledger.path.parent)])
    assert result.exit_code == 0 and "└── gen-2b  depth 2  coverage=0.97  ★ best" in result.output
    result = CliRunner().invoke(lineage_command, [str(ledger.path.parent), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["best"] == "gen-2b"


def test_cli_defaults_to_the_current_folder_and_explains_a_missing_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(lineage_command, [])
    assert result.exit_code == 1 and "no lineage ledger in ." in result.output
    assert CliRunner().invoke(lineage_command, ["--help"]).exit_code == 0
