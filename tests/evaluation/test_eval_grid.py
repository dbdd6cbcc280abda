"""The sweep's results: the winner per metric, the questions it gains and loses, the sign test."""

from __future__ import annotations

import pytest
from eval_samples import sweep_result

from evaluation.grid import Config, Grid, Row, beyond_noise


def test_the_grid_always_tries_the_current_settings_and_quick_skips_rechunking() -> None:
    assert Grid().chunks == [(96, 16, 96), (200, 32, 200)] and Grid().boosts == []
    quick = Grid.quick()
    assert (quick.chunks, quick.alphas, quick.candidates, quick.boosts) == ([], [0.3, 0.5, 0.7], [], [])


def test_a_config_names_only_what_its_mode_uses() -> None:
    assert Config(24, 0, "lexical").label() == "lexical · passages 24/0"
    hybrid = Config(96, 16, "hybrid", 0.3, 100, 0.2)
    assert hybrid.label() == "hybrid · passages 96/16 · alpha 0.3 · candidates 100 · boost 0.2"
    assert hybrid.as_dict()["fusion_alpha"] == 0.3


def test_winners_gains_and_losses_worked_out_by_hand() -> None:
    result = sweep_result()
    assert result.metrics == ["recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "recall@2000c"]
    assert result.baseline("lexical") is result.rows[2] and result.baseline("hybrid") is result.rows[0]
    winners = result.winners()
    assert all(row is result.rows[1] for row in winners.values())
    assert result.paired(result.rows[1], "recall@1") == (1, 0)  # q3 now at 1
    assert result.paired(result.rows[1], "recall@5") == (1, 0)  # q2
    assert result.paired(result.rows[1], "recall@2000c") == (1, 0)  # q2, within the reading budget
    assert result.paired(result.rows[1], "mrr@10") == (0, 0)  # not a recall: not counted
    assert result.paired(result.rows[2], "recall@5") == (0, 0)  # lexical against its own baseline


def test_a_tie_goes_to_the_current_settings() -> None:
    result = sweep_result()
    result.rows[1] = Row(result.rows[1].config, result.rows[0].result)  # the same numbers
    assert all(row.baseline for row in result.winners().values())


@pytest.mark.parametrize(
    "gained, lost, beyond", [(0, 0, False), (3, 1, False), (4, 0, True), (27, 17, False), (54, 32, True), (1, 5, False)]
)
def test_a_net_gain_counts_only_beyond_the_sign_test_noise(gained: int, lost: int, beyond: bool) -> None:
    assert beyond_noise(gained, lost) is beyond
