"""gancore first-party plugin: adversarial losses and critic regularizers."""

import gancore

from .adversarial import HingeLoss, LeastSquaresLoss, MinimaxLoss, NonSaturatingLoss, RelativisticPairingLoss, WassersteinLoss
from .regularizers import Consistency, DraganPenalty, GradientPenalty, LeCam, R1Penalty, R2Penalty, WeightClipping


@gancore.hookimpl
def register_parts(register):
    register("loss", "minimax", MinimaxLoss)
    register("loss", "non-saturating", NonSaturatingLoss)
    register("loss", "least-squares", LeastSquaresLoss)
    register("loss", "hinge", HingeLoss)
    register("loss", "wasserstein", WassersteinLoss)
    register("loss", "rpgan", RelativisticPairingLoss)
    register("regularizer", "gradient-penalty", GradientPenalty)
    register("regularizer", "r1", R1Penalty)
    register("regularizer", "r2", R2Penalty)
    register("regularizer", "dragan", DraganPenalty)
    register("regularizer", "lecam", LeCam)
    register("regularizer", "consistency", Consistency)
    register("regularizer", "weight-clipping", WeightClipping)
