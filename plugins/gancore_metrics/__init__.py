"""gancore first-party plugin: metrics.

Sample-quality metrics (FID, KID, precision/recall, density/coverage, Inception Score,
classifier score, mode counts, the reconstruction of held-out images) and the feature spaces
they work in: the Inception-v3 network FID is defined with (weights named by the user or
downloaded once), a small MNIST classifier whose weights ship with the package, and the
identity for 2D points.
"""

import gancore

from .classifier import ClassifierScore, InceptionScore
from .features import IdentityFeatures, MnistFeatures, MnistNet, identity_features, mnist_features
from .inception import InceptionFeatures, inception_features
from .frechet import FrechetDistance, frechet_distance
from .kernels import KernelDistance
from .manifold import DensityCoverage, PrecisionRecall
from .modes import MixtureModes, StackedMnistModes
from .reconstruction import Reconstruction


@gancore.hookimpl
def register_parts(register):
    register("features", "inception", inception_features)
    register("features", "mnist", mnist_features)
    register("features", "identity", identity_features)
    register("metric", "fid", FrechetDistance)
    register("metric", "kid", KernelDistance)
    register("metric", "precision-recall", PrecisionRecall)
    register("metric", "density-coverage", DensityCoverage)
    register("metric", "inception-score", InceptionScore)
    register("metric", "classifier-score", ClassifierScore)
    register("metric", "modes", MixtureModes)
    register("metric", "stacked-mnist-modes", StackedMnistModes)
    register("metric", "reconstruction", Reconstruction)


__all__ = [
    "ClassifierScore",
    "DensityCoverage",
    "FrechetDistance",
    "IdentityFeatures",
    "InceptionFeatures",
    "InceptionScore",
    "KernelDistance",
    "MixtureModes",
    "MnistFeatures",
    "MnistNet",
    "PrecisionRecall",
    "Reconstruction",
    "StackedMnistModes",
    "frechet_distance",
    "identity_features",
    "inception_features",
    "mnist_features",
    "register_parts",
]
