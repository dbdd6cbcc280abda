"""Hybrid fusion: min-max, and the lexical side scaled by the question's best reachable score."""

from __future__ import annotations

import numpy as np
import pytest

from service.search.fusion import fuse, lexical_bound


def test_min_max_fusion_gives_each_side_its_best_match_full_weight() -> None:
    dense = (np.array([1, 2]), np.array([0.6, 0.4]))
    lexical = (np.array([3, 1]), np.array([2.0, 1.0]))
    fused = fuse(dense, lexical, alpha=0.5)
    assert fused == {1: 0.5, 2: 0.0, 3: 0.5}


def test_a_lexical_match_on_common_words_weighs_little_under_the_bound() -> None:
    idf = {"countri": 0.3, "persecut": 0.4, "expel": 3.0}
    tokens = ["countri", "persecut", "expel"]
    bound = lexical_bound(idf, tokens)
    assert bound == pytest.approx(3.7)
    dense = (np.array([7, 8, 9]), np.array([0.62, 0.50, 0.30]))  # 7: dense's best
    common = (np.array([8]), np.array([0.7]))  # 8 matches only the common words
    assert fuse(dense, common, 0.5)[8] > fuse(dense, common, 0.5)[7]  # min-max: common words win
    bounded = fuse(dense, common, 0.5, bound)
    assert bounded[7] > bounded[8]  # bound: they do not
