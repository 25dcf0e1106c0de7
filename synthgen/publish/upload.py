"""``publish_run``: check, build the Hub folder, and upload it with huggingface_hub.

The token comes from the argument or huggingface_hub's ``get_token()`` (``HF_TOKEN``, else the token a
``hf auth login`` stored) and only ever goes to ``HfApi``: it is never written to
the folder, logged, or left in an error message. ``HF_ENDPOINT`` selects another Hub (tests use a local one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .card import DEFAULT_LANGUAGE, DEFAULT_LICENSE, DEFAULT_TASKS
from .checks import PublishError, read_run, require_publishable, resolve_token, validate_repo_id
from .folder import write_folder

DEFAULT_ENDPOINT = "https://huggingface.co"
HUB_DIR = "hub"
# Remote files the upload may delete: every data file, so rows of an earlier publish never linger
# beside the new shards (fnmatch's * crosses "/", so this covers data/mix/ too).
DELETE_PATTERNS = ["data/*"]


@dataclass
class PublishResult:
    """Where the folder is, where the dataset is (or would be), and what was published despite problems."""

    repo_id: str
    folder: Path
    url: str
    uploaded: bool
    commit_url: str | None = None
    forced_problems: list[str] = field(default_factory=list)


def dataset_url(repo_id: str) -> str:
    endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    return f"{endpoint}/datasets/{repo_id}"


def publish_run(run_dir: str | Path, repo_id: str, private: bool = False, dry_run: bool = False,
                force: bool = False, token: str | None = None, out_dir: str | Path | None = None,
                license: str = DEFAULT_LICENSE, task_categories: tuple[str, ...] = DEFAULT_TASKS,
                language: tuple[str, ...] = DEFAULT_LANGUAGE) -> PublishResult:
    """Publish a finished run as a Hub dataset; ``dry_run`` stops after building and checking the folder.

    Errors (bad repo id, no token, an incomplete or failed run without ``force``) come before any upload."""
    validate_repo_id(repo_id)
    secret = None if dry_run else resolve_token(token)
    if not dry_run:
        require_online()
    files = read_run(run_dir)
    require_publishable(files, force)
    folder = Path(out_dir) if out_dir is not None else Path(run_dir) / HUB_DIR
    write_folder(files, folder, repo_id, force=force, license=license, task_categories=task_categories,
                 language=language)
    forced = list(files.problems) if force else []
    if dry_run:
        return PublishResult(repo_id, folder, dataset_url(repo_id), False, forced_problems=forced)
    url, commit_url = upload_folder(folder, repo_id, private=private, token=secret)
    return PublishResult(repo_id, folder, url, True, commit_url, forced)


def require_online() -> None:
    """Publishing is the one step that needs the network; say so before any work if the Hub is switched off."""
    hub = _huggingface_hub()
    if hub.constants.HF_HUB_OFFLINE:
        raise PublishError("HF_HUB_OFFLINE is set, so huggingface_hub will not reach the Hub",
                           hint="publish with HF_HUB_OFFLINE=0 (synthgen's Makefile sets it to 1 for generation)")


def upload_folder(folder: Path, repo_id: str, *, private: bool, token: str) -> tuple[str, str | None]:
    """Create the dataset repo (if needed) and upload ``folder`` in one commit that also deletes every remote
    data file it does not send again; returns (url, commit url)."""
    hub = _huggingface_hub()
    api = hub.HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                                   commit_message="Publish synthgen run", delete_patterns=DELETE_PATTERNS)
    except Exception as exc:  # noqa: BLE001 - every client/HTTP failure becomes one clear line
        raise PublishError(f"upload of {folder} to {repo_id} failed: {redact(_describe(exc), token)}",
                           hint="check that HF_TOKEN has write access to the namespace and that the Hub is "
                                "reachable (HF_ENDPOINT)") from None
    return str(getattr(repo_url, "url", repo_url)), getattr(commit, "commit_url", None)


def _huggingface_hub():
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - a dependency of datasets
        raise PublishError(f"huggingface_hub is not installed ({exc})", hint="pip install huggingface_hub") from exc
    return huggingface_hub


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text


def push_to_hub(result: Any, repo_id: str, **kwargs: Any) -> PublishResult:
    """``RunResult.push_to_hub`` delegates here: publish ``result.run_dir`` (same options as publish_run)."""
    return publish_run(result.run_dir, repo_id, **kwargs)


def publish_problems(run_dir: str | Path) -> list[str]:
    """Why ``run_dir`` would need ``force`` to publish (empty when it is ready)."""
    return read_run(run_dir).problems


__all__ = ["PublishResult", "publish_run", "push_to_hub", "upload_folder", "dataset_url", "publish_problems",
           "PublishError"]
