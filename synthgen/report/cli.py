"""``synthgen report``: rebuild a run's report.md and report.html (a click command object).

Registered in the main group with ``cli.add_command(report_command)``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_errors import reports_errors


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@reports_errors
def report_command(run_dir: Path) -> None:
    """Rebuild RUN_DIR's report.md and report.html from report.json and the data; print where it is."""
    from .html import rebuild_report

    path = rebuild_report(run_dir)
    click.echo(f"report: {path}")
