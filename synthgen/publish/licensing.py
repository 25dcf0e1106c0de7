"""The card's license, from the one chosen when publishing and the generating model's terms.

Synthetic text carries its generator's terms: a Gemma model's outputs are published under ``license:
gemma``, the Hub's id for the Gemma Terms of Use (the card body links them). A license the user passes
explicitly (a Hub id, or ``other`` with a name) wins; the card body still names the model's terms.
The real data's sources and licenses are :mod:`synthgen.publish.sources`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

GEMMA = ("gemma", "https://ai.google.dev/gemma/terms")
MODEL_TERMS = {"gemma": GEMMA}  # a substring of the model's name or path → (Hub license id, link to the terms)
NO_LICENSE_NAME = "unspecified"

# The Hub's license identifiers, as documented at https://huggingface.co/docs/hub/repositories-licenses
# (huggingface_hub ships no list of them; keep this in step with that page, last compared with the
# huggingface/hub-docs source of 2026-08-22). The Hub refuses any other id.
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0
cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr
mpl-2.0 odc-by odbl openmdw-1.0 openmdw-1.1 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr
deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4
grok2-community gemma unknown other
""".split())


def validate_license(license_id: str) -> str:
    """``license_id`` when it is one of the Hub's identifiers, else an error with the closest ids."""
    import difflib

    from .checks import PublishError

    if license_id in HUB_LICENSES:
        return license_id
    close = difflib.get_close_matches(str(license_id).lower(), sorted(HUB_LICENSES), n=3, cutoff=0.5)
    if str(license_id).lower() in HUB_LICENSES:
        close = [str(license_id).lower()]
    guess = f"did you mean {' or '.join(close)}? " if close else ""
    raise PublishError(f"--license {license_id!r} is not a Hugging Face Hub license id",
                       hint=f"{guess}use an id from https://huggingface.co/docs/hub/repositories-licenses, e.g. "
                            "cc-by-4.0, or --license other --license-name NAME [--license-link URL]")


def custom_license(name: str, link: str | None = None) -> "LicenseInfo":
    """``license: other`` with the name (and link) the user gave (``--license other --license-name``)."""
    return LicenseInfo("other", name, link, why=f"chosen when publishing: {name}" + (f" ({link})" if link else ""))


@dataclass(frozen=True)
class LicenseInfo:
    """``license`` and, when it is ``other``, ``license_name`` / ``license_link``; ``why`` for the card body."""

    license: str
    name: str | None = None
    link: str | None = None
    why: str = ""


def model_terms(manifest: dict[str, Any]) -> tuple[str, str] | None:
    """(Hub license id, link to the terms) of the generating model, when synthgen knows them."""
    backend = manifest.get("backend") or {}
    described = " ".join(str(backend.get(k) or "") for k in ("model", "model_path", "model_source", "server_root"))
    recipe_model = ((manifest.get("recipe") or {}).get("generation") or {}).get("backend") or {}
    described = f"{described} {recipe_model.get('model') or ''}".lower()
    if "embedded" in described.split() or "gemma3-270m" in described:
        return GEMMA
    return next((terms for key, terms in MODEL_TERMS.items() if key in described), None)


def choose_license(chosen: "str | LicenseInfo | None", manifest: dict[str, Any]) -> LicenseInfo:
    """The card's license: the one chosen when publishing (a Hub id, or a :func:`custom_license`), else the
    model's terms, else ``other``."""
    terms = model_terms(manifest)
    if isinstance(chosen, LicenseInfo):
        return replace(chosen, why=chosen.why + _also_apply(terms))
    if chosen:
        validate_license(chosen)
    if chosen and chosen != "other":
        return LicenseInfo(chosen, why="chosen when publishing" + _also_apply(terms))
    if terms:
        return LicenseInfo(terms[0], why=f"the generating model's terms: {terms[1]}")
    return LicenseInfo("other", NO_LICENSE_NAME, None,
                       why="no license was chosen when publishing (pass --license, e.g. cc-by-4.0)")


def _also_apply(terms: tuple[str, str] | None) -> str:
    """The clause that names the generating model's terms beside a license chosen when publishing."""
    return f"; the generating model's terms ({terms[1]}) also apply" if terms else ""
