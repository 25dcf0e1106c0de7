"""The compiled first-seen-wins rule decides like a plain reading of the engine's rule."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.dedup import rule as rule_module
from synthgen.dedup.rule import (KEPT, REF_EXACT, REF_NEAR, RUN_EXACT, RUN_NEAR, RuleInput, groups_of, run_rule,
                                 shared_rows)


def plain_rule(exact, bands, has_sig, sigs, ref_exact, ref_near, use_exact, use_near, threshold):
    """The engine's rule with dicts and sets, row by row (what :mod:`synthgen.dedup.rule` compiles)."""
    kept_exact: dict[int, int] = {}
    buckets: list[dict[int, list[int]]] = [{} for _ in range(bands.shape[1])]
    out = []
    for i in range(len(exact)):
        if use_exact:
            if ref_exact[i]:
                out.append((REF_EXACT, -1, 0.0))
                continue
            if int(exact[i]) in kept_exact:
                out.append((RUN_EXACT, kept_exact[int(exact[i])], 0.0))
                continue
        if use_near and has_sig[i]:
            if ref_near[i]:
                out.append((REF_NEAR, -1, 0.0))
                continue
            found = sorted({j for b, bucket in enumerate(buckets) for j in bucket.get(int(bands[i, b]), ())})
            if found:
                jac = (sigs[found] == sigs[i]).mean(axis=1)
                best = int(np.argmax(jac))
                if jac[best] >= threshold:
                    out.append((RUN_NEAR, found[best], float(jac[best])))
                    continue
        kept_exact.setdefault(int(exact[i]), i)
        if has_sig[i]:
            for b, bucket in enumerate(buckets):
                bucket.setdefault(int(bands[i, b]), []).append(i)
        out.append((KEPT, -1, 0.0))
    return out


def random_rows(seed: int, m: int = 400, bands: int = 6, num_perm: int = 12):
    """Few distinct keys and short signatures, so buckets collide and Jaccard values tie often."""
    rng = np.random.default_rng(seed)
    exact = rng.integers(0, m // 3, m).astype(np.uint64)
    band_keys = rng.integers(0, m // 8, (m, bands)).astype(np.uint64) * np.uint64(2**40)
    sigs = rng.integers(0, 3, (m, num_perm)).astype(np.uint32)
    has_sig = rng.random(m) > 0.1
    return exact, band_keys, has_sig, sigs, rng.random(m) < 0.05, rng.random(m) < 0.05


@pytest.mark.parametrize("use_exact,use_near", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_rule_equals_the_plain_rule(seed, use_exact, use_near):
    exact, bands, has_sig, sigs, ref_exact, ref_near = random_rows(seed)
    expected = plain_rule(exact, bands, has_sig, sigs, ref_exact, ref_near, use_exact, use_near, 0.5)
    rule = RuleInput(*groups_of(exact, bands), has_sig, sigs, ref_exact, ref_near)
    status, other, jaccard = run_rule(rule, use_exact, use_near, 0.5)
    got = [(int(s), int(o), float(j)) for s, o, j in zip(status, other, jaccard)]
    assert got == expected
    assert {KEPT, RUN_NEAR if use_near else RUN_EXACT} <= {s for s, _, _ in got}


def test_python_fallback_gives_the_compiled_result():
    """Without numba the same function runs as Python (``py_func``)."""
    exact, bands, has_sig, sigs, ref_exact, ref_near = random_rows(7, m=120)
    rule = RuleInput(*groups_of(exact, bands), has_sig, sigs, ref_exact, ref_near)
    compiled = run_rule(rule, True, True, 0.5)
    loop = rule_module._rule_loop
    if not hasattr(loop, "py_func"):
        pytest.skip("numba is not installed: the Python loop is the only one")
    m = len(has_sig)
    status, other, jaccard = np.zeros(m, np.int8), np.full(m, -1, np.int64), np.zeros(m)
    loop.py_func(rule.exact_group, rule.band_group, has_sig, sigs, ref_exact, ref_near,
                 int(rule.exact_group.max()) + 1, int(rule.band_group.max()) + 1, True, True, 0.5,
                 status, other, jaccard)
    for mine, theirs in zip(compiled, (status, other, jaccard)):
        assert np.array_equal(mine, theirs)


def test_groups_never_span_two_bands():
    bands = np.array([[5, 5], [5, 6], [7, 5]], np.uint64)
    exact_group, band_group = groups_of(np.array([9, 9, 1], np.uint64), bands)
    assert exact_group[0] == exact_group[1] != exact_group[2]
    assert band_group[0, 0] == band_group[1, 0] and band_group[0, 1] != band_group[0, 0]
    assert band_group[2, 1] == band_group[0, 1] and band_group[2, 0] not in band_group[:, 1]


def test_shared_rows_finds_every_repeated_value_among_the_given_rows():
    rng = np.random.default_rng(3)
    column = rng.integers(0, 500, 3000).astype(np.uint64) * np.uint64(2**33)
    rows = np.sort(rng.choice(3000, 1500, replace=False))
    values, counts = np.unique(column[rows], return_counts=True)
    repeated = set(values[counts > 1].tolist())
    expected = [r for r in rows.tolist() if int(column[r]) in repeated]
    assert shared_rows(column, rows).tolist() == expected
    assert shared_rows(column, rows[:0]).tolist() == []
