"""The tracked tree holds no leftovers of a merge: a conflict marker once shipped in CHANGELOG.md."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^(<{7}|>{7}) |^={7}$", re.MULTILINE)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in names if Path(name).suffix in {".md", ".py", ".toml", ".txt", ".cfg", ".ipynb", ""}]


def test_no_merge_conflict_markers():
    found = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
             for path in tracked_text_files() if path.is_file()
             for text in [path.read_text(errors="replace")] for m in MARKER.finditer(text)]
    assert not found, f"merge conflict markers left in: {', '.join(found)}"
