"""Diverse selection keeps the tails that first-N would drop."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_diversity import blobs
from synthgen.diversity.select import cluster_stratified, k_center_greedy, select_diverse, shares

SIZES = [500, 50, 10, 5, 2]


def test_k_center_covers_every_cluster():
    x, labels = blobs(SIZES, dim=8)
    picked = k_center_greedy(x, 10)
    assert len(set(picked)) == 10 and set(labels[picked]) == set(range(5))
    assert set(labels[select_diverse(x, 10, "first")]) == {0}  # what first-N keeps


def test_k_center_by_hand():
    x = np.array([[1, 0], [0.99, 0.141], [0, 1], [-1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert k_center_greedy(x, 3, first=0).tolist() == [0, 3, 2]  # farthest (cos −1), then cos 0


def test_k_center_orders_every_row_when_asked_even_if_k_covers_them_all():
    x = np.array([[1, 0], [0.99, 0.141], [0, 1], [-1, 0]], dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert k_center_greedy(x, 9).tolist() == [0, 1, 2, 3]  # a set: input order
    assert k_center_greedy(x, 9, first=0, ordered=True).tolist() == [0, 3, 2, 1]
    assert k_center_greedy(x[:0], 3, ordered=True).tolist() == []


def test_cluster_stratified_takes_every_cluster():
    x, labels = blobs(SIZES, dim=8)
    picked = cluster_stratified(x, 10, clusters=5)
    assert len(picked) == 10 and len(set(picked)) == 10 and set(labels[picked]) == set(range(5))


def test_shares_water_fill_by_hand():
    assert shares(np.array([10, 1, 3]), 9).tolist() == [5, 1, 3]
    assert shares(np.array([2, 2]), 10).tolist() == [2, 2]
    assert shares(np.array([4, 4, 4]), 7).sum() == 7


@pytest.mark.parametrize("strategy", ["first", "k_center", "cluster_stratified"])
def test_k_at_least_n_keeps_everything(strategy):
    x, _ = blobs([3, 2], dim=4)
    assert sorted(select_diverse(x, 9, strategy).tolist()) == list(range(5))


def test_unknown_strategy():
    with pytest.raises(ValueError, match="k_center"):
        select_diverse(np.eye(3), 2, "random")
