"""The plugin's own tests: gancore's contract kit over every part it registers, then the
values only this loss can be checked for."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("gancore_relativistic")  # run from gancore's tree without the plugin installed

import gancore  # noqa: E402
from gancore.testing import cases, check_loss  # noqa: E402
from gancore_relativistic import RelativisticAverageLoss  # noqa: E402


@pytest.mark.parametrize("case", cases(plugin="relativistic"), ids=str)
def test_every_registered_part_keeps_its_kind_s_contract(case):
    case.run()


def test_the_loss_instance_keeps_the_loss_contract():
    check_loss(RelativisticAverageLoss())


def test_equal_scores_give_two_log_two_on_both_sides():
    loss = RelativisticAverageLoss()
    scores = torch.zeros(4)
    assert loss.critic(scores, scores).item() == pytest.approx(2 * math.log(2))
    assert loss.generator(scores, scores).item() == pytest.approx(2 * math.log(2))


def test_the_generator_step_needs_the_real_scores():
    assert RelativisticAverageLoss.needs_real_in_generator_step
    with pytest.raises(ValueError, match="needs the real scores"):
        RelativisticAverageLoss().generator(torch.zeros(4))


def test_registered_under_its_plugin():
    assert gancore.registry().get("loss", "relativistic-average").plugin == "relativistic"
