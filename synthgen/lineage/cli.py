"""``synthgen lineage [DIR]``: print a project's generation tree (a click command object).

Registered in the main group with ``cli.add_command(lineage_command)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..cli_errors import reports_errors


@click.command("lineage")
@click.argument("directory", metavar="[DIR]", default=".", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as JSON instead of a tree.")
@reports_errors
def lineage_command(directory: Path, as_json: bool) -> None:
    """Show the generations recorded in DIR's lineage.json (default: the current folder)."""
    from .ledger import Ledger

    ledger = Ledger.open(directory, create=False)
    if as_json:
        click.echo(json.dumps({"best": ledger.best_id, "entries": [e.to_dict() for e in ledger]}, indent=1))
    else:
        click.echo(ledger.tree())
