"""The dataset card (``README.md``): YAML metadata the Hub reads, then a body that states what the data is.

The body states the recipe, the model, every gate with its measured value, the synthetic share, the
lineage and the known limitations; a run published with ``force`` says so before anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import card_sections as sections
from .checks import PublishError, RunFiles
from .licensing import LicenseInfo, choose_license
from .sources import data_sources, source_dataset_ids

DEFAULT_LICENSE = "other"
DEFAULT_TASKS = ("text-generation",)
DEFAULT_LANGUAGE = ("en",)
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
          (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
_SIZE_LABELS = {label for _, label in _SIZES} | {"n>1T"}


@dataclass
class CardInputs:
    """What the card is written from: the run's files, the row counts written, and the rows' lineage columns."""

    files: RunFiles
    repo_id: str
    n_rows: int
    n_mix: int | None = None
    lineage_rows: list[dict[str, Any]] = field(default_factory=list)
    license: str = DEFAULT_LICENSE
    task_categories: tuple[str, ...] = DEFAULT_TASKS
    forced: bool = False
    language: tuple[str, ...] = DEFAULT_LANGUAGE

    @property
    def license_info(self) -> LicenseInfo:
        return choose_license(self.license, self.files.manifest)

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The real data behind the run, found at the absolute paths of the manifest's ``inputs``."""
        return data_sources(self.files.manifest, mix_published=self.n_mix is not None)

    @property
    def mix(self) -> dict[str, Any] | None:
        """The published mix's facts (its summary.json); the report's mix when no mix is published."""
        return self.files.mix_summary if self.n_mix is not None else self.files.report.mix

    @property
    def report_document(self) -> dict[str, Any]:
        """report.json as a dict, its mix the published one (the gates table judges that mix's share)."""
        return {**self.files.report.to_dict(), "mix": self.mix}

    @property
    def columns(self) -> list[str]:
        """The columns of the default config: the schema of the run's data.parquet, which is what is published."""
        from ..report.data import schema_names

        return schema_names(self.files.run_dir / "data.parquet")

    @property
    def mix_columns(self) -> list[str]:
        """The columns of the ``mix`` config (empty without one)."""
        from ..report.data import schema_names

        path = self.files.mix_path if self.n_mix is not None else None
        return schema_names(path) if path is not None else []

    @property
    def main_field(self) -> str | None:
        """The column that holds the record: the report's ``output.main_field`` (``answer`` for a steps
        recipe), else ``text``; None when the published file has neither."""
        named = (self.files.report.output or {}).get("main_field")
        return next((c for c in (named, "text") if c and c in self.columns), None)

    @property
    def dataset_format(self) -> str:
        """The format the run wrote its dataset in (``output.format`` of the recipe; ``raw`` before it existed)."""
        recipe = self.files.manifest.get("recipe") or {}
        return str((recipe.get("output") or {}).get("format") or "raw")


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    for bound, label in _SIZES:
        if n < bound:
            return label
    return "n>1T"


def card_data(inputs: CardInputs) -> Any:
    """The YAML header as huggingface_hub's ``DatasetCardData``: license (with the model's terms),
    language, machine-generated annotations, sources, task categories, tags, size and the configs."""
    from huggingface_hub import DatasetCardData

    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}],
                "default": True}]
    if inputs.n_mix is not None:
        configs.append({"config_name": "mix", "data_files": [{"split": "train", "path": "data/mix/train-*"}]})
    tags = ["synthetic", "synthgen"] + (["mixed-real-synthetic"] if inputs.n_mix is not None else [])
    terms = inputs.license_info
    return DatasetCardData(
        license=terms.license, license_name=terms.name, license_link=terms.link,
        language=list(inputs.language) or None, annotations_creators=["machine-generated"],
        language_creators=["machine-generated"], source_datasets=source_dataset_ids(inputs.sources),
        task_categories=list(inputs.task_categories), tags=tags,
        size_categories=[size_category(max(inputs.n_rows, inputs.n_mix or 0))],
        pretty_name=str(inputs.files.report.name or inputs.repo_id.split("/")[1]), configs=configs)


def card_metadata(inputs: CardInputs) -> dict[str, Any]:
    """The YAML header as a plain dict (None fields left out)."""
    return card_data(inputs).to_dict()


def render_card(inputs: CardInputs) -> str:
    """The whole ``README.md`` as a validated ``DatasetCard``: front matter, then the body sections."""
    from huggingface_hub import DatasetCard

    body = [_title(inputs), sections.forced_notice(inputs), _summary(inputs), _loading(inputs),
            sections.recipe_section(inputs), sections.model_section(inputs), sections.gates_section(inputs),
            sections.share_section(inputs), sections.lineage_section(inputs), sections.limitations_section(inputs),
            sections.license_section(inputs), sections.columns_section(inputs)]
    text = "\n\n".join(part for part in body if part).rstrip() + "\n"
    card = DatasetCard(f"---\n{card_data(inputs).to_yaml()}\n---\n\n{text}")
    validate_card(card)
    return str(card)


def validate_card(card: Any) -> None:
    """Offline checks of the metadata the Hub rejects or mislabels (the Hub's own validation runs again on
    upload): a size category of the Hub's list, a license name for ``other``, ISO 639 language codes."""
    data = card.data.to_dict()
    problems = []
    if any(label not in _SIZE_LABELS for label in data.get("size_categories") or []):
        problems.append(f"size_categories {data.get('size_categories')} not among the Hub's buckets")
    if data.get("license") == "other" and not data.get("license_name"):
        problems.append("license 'other' needs license_name")
    if any(not _LANGUAGE.fullmatch(str(code)) for code in data.get("language") or []):
        problems.append(f"language {data.get('language')} is not a list of ISO 639 codes")
    if problems:
        raise PublishError("the dataset card is invalid: " + "; ".join(problems),
                           hint="pass --language with ISO 639 codes, e.g. en; otherwise report this synthgen bug")


def _title(inputs: CardInputs) -> str:
    report = inputs.files.report
    return (f"# {sections.md(report.name or inputs.repo_id)}\n\n"
            f"Synthetic data generated by synthgen from the recipe "
            f"{sections.md(report.name)} (hash `{sections.md(report.recipe_hash)}`). Every record "
            "was written by a language model and kept only after the verifiers, deduplication and quality gates "
            "listed below.")


def _summary(inputs: CardInputs) -> str:
    from ..report.build import acceptance_line, candidates_phrase, merged_records

    report = inputs.files.report
    data = report.to_dict()
    candidates = candidates_phrase(report.throughput.candidates, report.candidate_records,
                                   merged_records(data["stages"]))
    lines = ["## Summary", "",
             f"- records: **{inputs.n_rows}** (target {report.target}; run status "
             f"`{report.status}`, stop reason `{report.stop_reason}`)",
             f"- candidates generated: {candidates}, rejected: "
             f"{report.rejected}, acceptance rate: {acceptance_line(data)}",
             f"- synthetic share: {sections.share_phrase(inputs)}",
             f"- dataset format: `{sections.md(inputs.dataset_format)}` (the run's `output.format`)"]
    return "\n".join(lines)


def _loading(inputs: CardInputs) -> str:
    lines = ["## Loading", "", "```python", "from datasets import load_dataset", "",
             f'ds = load_dataset("{inputs.repo_id}", split="train")  # the accepted synthetic records']
    if inputs.n_mix is not None:
        lines.append(f'mix = load_dataset("{inputs.repo_id}", "mix", split="train")  # real + capped synthetic')
    return "\n".join(lines + ["```"])
