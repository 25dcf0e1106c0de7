"""The generation ledger: which generation came from which, by what model and recipe, how deep from human
data, with its counts and metrics (DESIGN.md §1, issue 6).

    from synthgen.lineage import Ledger, LineageEntry
    ledger = Ledger.open("project")
    ledger.add(LineageEntry("real", counts={"rows": 1000}))                  # depth 0: human data
    ledger.add(LineageEntry("gen-1", parents=("real",), model="gemma3-270m", metrics={"coverage": 0.93}))
    print(ledger.tree())

Modules: ``entry`` (LineageEntry, LineageError), ``store`` (versioned file, atomic write, lock),
``ledger`` (Ledger), ``tree`` (text rendering), ``cli`` (``synthgen lineage``).
"""

from .entry import LineageEntry, LineageError
from .ledger import Ledger
from .store import FORMAT_VERSION, LEDGER_FILE

__all__ = ["FORMAT_VERSION", "LEDGER_FILE", "Ledger", "LineageEntry", "LineageError"]
