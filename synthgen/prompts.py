"""Prompt rendering and the request plan.

Templates use ``{field}`` placeholders filled from seed fields; ``{examples}`` receives the few-shot block.
A placeholder that no seed provides is an error at start-up, not a ``KeyError`` mid-run.
Request ``i`` is a pure function of (recipe seed, i): its seed row, its few-shot examples and its sampling
seed, so a resumed run regenerates exactly the requests an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import dataclass
from typing import Any, Callable

from .errors import RecipeError
from .records import GenerationRequest, Seed, content_hash

EXAMPLES = "examples"


def template_fields(template: str) -> list[str]:
    """Placeholder names in ``template`` (``{a}``, ``{a.b}`` → ``a``), in order, without repeats."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        root = name.split(".")[0].split("[")[0]
        if not root or root.isdigit():
            raise ValueError(f"positional placeholder {{{name}}}: name it, e.g. {{topic}}")
        if root not in names:
            names.append(root)
    return names


CONVERSIONS = ("r", "s", "a")


def check_placeholders(template: str, where: str) -> list[str]:
    """The template's placeholder names, refusing what parses but fails or misleads when rendered: a
    positional ``{}``, attribute or index access (``{persona.upper}`` renders a method's repr, which is
    neither the value nor stable), an unknown conversion (``{a!x}``) and a placeholder inside a format
    spec (``{a:>{width}}``, which the values never fill)."""
    try:
        names = template_fields(template)
        parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        raise RecipeError(f"{where}: {exc}", hint="escape literal braces as {{ and }}") from None
    for name, spec, conversion in parsed:
        root = name.split(".")[0].split("[")[0]
        if name != root:
            raise RecipeError(f"{where}: placeholder {{{name}}} uses attribute or index access",
                              hint=f"use the plain field {{{root}}}, or add a field holding the value you need")
        if conversion is not None and conversion not in CONVERSIONS:
            raise RecipeError(f"{where}: placeholder {{{name}!{conversion}}} has an unknown conversion "
                              f"!{conversion}", hint="use !r, !s or !a, or none; escape literal braces as {{ and }}")
        if spec and any(field is not None for _, field, _, _ in string.Formatter().parse(spec)):
            raise RecipeError(f"{where}: placeholder {{{name}:{spec}}} has a placeholder in its format spec",
                              hint=f"write the format with numbers, e.g. {{{name}:>20}}")
    return names


def check_template(template: str, seed_fields: set[str], has_few_shot: bool, where: str) -> None:
    """Fail early when a placeholder cannot be filled."""
    names = check_placeholders(template, where)
    available = set(seed_fields) | ({EXAMPLES} if has_few_shot else set())
    missing = [name for name in names if name not in available]
    if missing:
        hint = "add [prompt.few_shot]" if EXAMPLES in missing else f"seed fields are: {', '.join(sorted(seed_fields))}"
        raise RecipeError(f"{where}: placeholder {{{missing[0]}}} is not a seed field", hint=hint)


@dataclass(frozen=True)
class FewShotPool:
    """Real examples rotated into prompts: each request draws its own ``k`` with a seeded RNG."""

    rows: list[dict[str, Any]]
    k: int
    field: str
    format: str
    separator: str

    def draw(self, rng: random.Random, extra: int = 0) -> tuple[str, tuple[str, ...]]:
        """``k`` examples, or ``k + extra`` once the gate asked for more real examples (a "too far" batch)."""
        chosen = rng.sample(self.rows, min(self.k + extra, len(self.rows)))
        block = self.separator.join(self.format.format_map(_Row(row, self.field)) for row in chosen)
        return block, tuple(content_hash(str(row[self.field])) for row in chosen)


class _Row(dict):
    """Row view where ``{text}`` means the configured example field."""

    def __init__(self, row: dict[str, Any], field: str):
        super().__init__(row)
        self.setdefault("text", row[field])


def derive_seed(*parts: Any) -> int:
    """A 31-bit integer seed from any parts (stable across runs and Python versions)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def few_shot_rng(recipe_seed: int, rotation: int, key: Any) -> random.Random:
    """The RNG that draws one prompt's few-shot examples. ``key`` names the prompt (the request index for
    the run's first step); rotation 0 keeps the original salt, so runs without remediation draw what they
    always drew, and a resumed run draws exactly what the uninterrupted one did."""
    salt = ("few_shot", key) if rotation == 0 else ("few_shot", rotation, key)
    return random.Random(derive_seed(recipe_seed, *salt))


class RequestPlan:
    """Maps a request index to its seed row, few-shot block and sampling seed."""

    def __init__(self, seeds: list[Seed], template: str, recipe_seed: int, sampling_seed: int | None = None,
                 few_shot: FewShotPool | None = None, widen: Callable[[int], list[Seed]] | None = None):
        self.seeds = seeds
        self.base_seeds = seeds
        self.widen = widen
        self.rotation = 0
        self.few_shot_extra = 0
        self.template = template
        self.recipe_seed = recipe_seed
        self.sampling_seed = recipe_seed if sampling_seed is None else sampling_seed
        self.few_shot = few_shot
        self._orders: dict[int, list[int]] = {}

    def adjust(self, seed_factor: int, rotation: int, few_shot_extra: int = 0) -> None:
        """Remediation: ``seed_factor``× more distinct seeds (when the source can widen, e.g. a sampled
        grid), a new few-shot rotation and ``few_shot_extra`` more real examples per prompt.
        Deterministic, so a resumed run re-applies the same plan."""
        if self.widen is not None and seed_factor > 1:
            widened = self.widen(seed_factor)
            if len(widened) != len(self.seeds):
                self.seeds, self._orders = widened, {}
        self.rotation, self.few_shot_extra = rotation, few_shot_extra

    def can_widen(self, current: int, new: int) -> bool:
        """Whether seed factor ``new`` gives more distinct seeds than ``current`` (False for a source used
        whole: inline, file and dataset seeds, a grid without ``sample``, or a sample already the whole grid)."""
        if self.widen is None or new <= current:
            return False
        now = len(self.base_seeds) if current <= 1 else len(self.widen(current))
        return len(self.widen(new)) > now

    def few_shot_adjustment(self) -> tuple[int, int]:
        """(rotation, extra examples): what every step that draws few-shot examples applies."""
        return self.rotation, self.few_shot_extra

    def seed_for(self, index: int) -> Seed:
        """Cycle through the seeds, reshuffled (seeded) each pass so long runs do not repeat an order."""
        epoch, offset = divmod(index, len(self.seeds))
        if epoch not in self._orders:
            order = list(range(len(self.seeds)))
            random.Random(derive_seed(self.recipe_seed, "epoch", epoch)).shuffle(order)
            self._orders = {epoch: order}
        return self.seeds[self._orders[epoch][offset]]

    def request(self, index: int) -> GenerationRequest:
        seed = self.seed_for(index)
        values = dict(seed.fields)
        parents: tuple[str, ...] = ()
        if self.few_shot is not None:
            rng = few_shot_rng(self.recipe_seed, self.rotation, index)
            values[EXAMPLES], parents = self.few_shot.draw(rng, self.few_shot_extra)
        prompt = self.template.format_map(values)
        return GenerationRequest(index, prompt, seed, derive_seed(self.sampling_seed, "sample", index), parents)

    def batch(self, start: int, size: int) -> list[GenerationRequest]:
        return [self.request(i) for i in range(start, start + size)]
