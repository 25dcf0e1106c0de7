"""``synthgen publish``: build a run's Hub folder and upload it (a click command object).

Registered in the main group with ``cli.add_command(publish_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..cli_errors import reports_errors


@click.command("publish")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo-id", required=True, metavar="OWNER/NAME", help="Hub dataset repo, e.g. my-org/my-dataset.")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--dry-run", is_flag=True, help="Build and check the folder, upload nothing (no token needed).")
@click.option("--force", is_flag=True,
              help="Publish a run that is incomplete or failed a quality gate; the dataset card says so.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the Hub layout [default: RUN_DIR/hub].")
@click.option("--license", "license_id", default=None,
              help="Hub license id for the card, e.g. cc-by-4.0 [default: the model's terms, e.g. Gemma's; else other].")
@click.option("--license-name", default=None, metavar="NAME",
              help="With --license other: the license's short name, e.g. my-terms (the card's license_name).")
@click.option("--license-link", default=None, metavar="URL",
              help="With --license other: a link to the license text (the card's license_link).")
@click.option("--language", "languages", multiple=True, default=("en",), show_default=True, metavar="CODE",
              help="ISO 639 code of the data's language; repeat for several.")
@reports_errors
def publish_command(run_dir: Path, repo_id: str, private: bool, dry_run: bool, force: bool, out: Path | None,
                    license_id: str | None, license_name: str | None, license_link: str | None,
                    languages: tuple[str, ...]) -> None:
    """Publish RUN_DIR to the Hugging Face Hub as a dataset (token from HF_TOKEN or `hf auth login`)."""
    from .upload import publish_run

    result = publish_run(run_dir, repo_id, private=private, dry_run=dry_run, force=force, out_dir=out,
                         license=license_choice(license_id, license_name, license_link), language=languages)
    for problem in result.forced_problems:
        click.echo(f"Warning: published with --force although {problem}", err=True)
    click.echo(f"folder: {result.folder}")
    if result.uploaded:
        click.echo(f"uploaded: {result.url}")
    else:
        click.echo(f"dry run, nothing uploaded; the dataset would be at {result.url}")


def license_choice(license_id: str | None, name: str | None, link: str | None) -> Any:
    """A Hub license id, ``other`` with the name (and link) given, or ``other`` when nothing was chosen
    (the model's terms then apply). ``--license other`` alone is refused: the Hub needs a license_name."""
    from .checks import PublishError
    from .licensing import custom_license, validate_license

    if (name or link) and license_id not in (None, "other"):
        raise PublishError(f"--license-name/--license-link apply only to --license other, not {license_id!r}",
                           hint="drop them, or pass --license other")
    if license_id == "other" or name or link:
        if not name:
            raise PublishError("--license other needs --license-name NAME (the Hub requires a license_name for it)",
                               hint="e.g. --license other --license-name my-terms --license-link https://...; "
                                    "or pass a Hub id such as --license cc-by-4.0")
        return custom_license(name, link)
    return "other" if license_id is None else validate_license(license_id)
