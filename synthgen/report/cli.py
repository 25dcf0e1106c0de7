"""``synthgen report``: rebuild a run's report.md and report.html (a click command object).

Registered in the main group with ``cli.add_command(report_command)``.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SynthgenError


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report_command(run_dir: Path) -> None:
    """Rebuild RUN_DIR's report.md and report.html from report.json and the data; print where it is."""
    from .html import rebuild_report

    try:
        path = rebuild_report(run_dir)
    except SynthgenError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"report: {path}")
