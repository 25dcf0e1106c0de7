"""Constrained JSON decoding on the real embedded model: the report shows the invalid-JSON rate with and
without it, and extracted fields become dataset columns. One engine serves both runs."""

from __future__ import annotations

from pathlib import Path

import pytest

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "structured_qa.toml"
SMALL = ["generation.target=4", "generation.max_candidates=8", "generation.batch_size=8"]


@pytest.mark.slow
def test_invalid_json_rate_with_and_without_constrained_decoding(tmp_path):
    from synthgen.api import run_recipe
    from synthgen.plan import RecipeContext, build_main_backend
    from synthgen.recipe import load_recipe

    constrained = load_recipe(RECIPE, SMALL)
    free = load_recipe(RECIPE, [*SMALL, "verify.1.constrain=false"])
    backend = build_main_backend(constrained.recipe, RecipeContext.from_loaded(constrained))
    try:
        with_schema = run_recipe(constrained, out=tmp_path / "c", backend=backend, progress=False, close_backend=False)
        without = run_recipe(free, out=tmp_path / "f", backend=backend, progress=False, close_backend=False)
    finally:
        backend.close()
    [c], [f] = with_schema.report.to_dict()["structured"], without.report.to_dict()["structured"]
    assert c["constrained"] is True and f["constrained"] is False
    assert 0 <= c["invalid_json_rate"] <= 1 and 0 <= f["invalid_json_rate"] <= 1
    assert "invalid JSON" in (with_schema.run_dir / "report.md").read_text()
    assert with_schema.report.to_dict()["kept"] > 0
    assert {"topic", "question"} <= set(with_schema.dataset.column_names)
    assert with_schema.manifest["recipe"]["verify"][1]["constrain"] is True
