"""Built-in metrics plugin: IS, FID, KID, precision/recall, SWD, MS-SSIM and the stacked-MNIST mode
test as named protocols, and three feature extractors:

* ``inception-v3-fid``: the standard FID Inception network (TF 2015-12-05 graph as ported for
  PyTorch FID); weights from ``--inception-weights``, the cache, or a checked download.
* ``mnist-cnn``: a small classifier trained by this project on real MNIST digits; its weights ship
  with the package (``weights/mnist-cnn.pt``, trained by ``train_digits_classifier.py``), so digit
  metrics run offline.
* ``classifier``: a classifier trained with ``ganzoo features train`` on any labelled dataset,
  given as ``--extractor-weights FILE``.
"""

from __future__ import annotations

from ganzoo import ExtractorSpec, hookimpl
from ganzoo.api import GanzooError
from ganzoo.api import ExtractorRequest


def load_inception_extractor(req: ExtractorRequest):
    from ganzoo_metrics import inception

    model = inception.load_inception(req.weights, req.cache_dir, req.download)
    model.weights_hash = model.weights_sha256  # the full sha256 of the file it loaded
    model.resizer = inception.RESIZER
    return model


def load_mnist_cnn(req: ExtractorRequest):
    from ganzoo_metrics.classifier import DIGITS_CLASSIFIER_INFO, load_digits_classifier

    if req.weights is not None:
        raise GanzooError("mnist-cnn uses the weights shipped with ganzoo; for your own classifier "
                          "use --extractor classifier --extractor-weights FILE")
    model = load_digits_classifier()
    model.weights_hash = DIGITS_CLASSIFIER_INFO["sha256"]
    model.resizer = "torch-bilinear-antialias-32"
    return model


def load_user_classifier(req: ExtractorRequest):
    from ganzoo_metrics.classifier import file_sha256, load_classifier

    if req.weights is None:
        raise GanzooError("--extractor classifier needs --extractor-weights FILE "
                          "(a classifier written by `ganzoo features train`)")
    if not req.weights.is_file():
        raise GanzooError(f"--extractor-weights: file not found: {req.weights}")
    model = load_classifier(req.weights)
    model.weights_hash = file_sha256(req.weights)
    model.resizer = "torch-bilinear-antialias-32"
    return model


@hookimpl
def register_extractors():
    return [
        ExtractorSpec("inception-v3-fid", load_inception_extractor,
                      "FID Inception-v3 (TF 2015-12-05 weights as ported for PyTorch FID): 2048-d pool, "
                      "1008 logits without bias"),
        ExtractorSpec("mnist-cnn", load_mnist_cnn,
                      "ganzoo's CNN trained on 4,000 real MNIST digits (shipped weights): 128-d "
                      "features, 10 logits"),
        ExtractorSpec("classifier", load_user_classifier,
                      "a classifier trained with `ganzoo features train` (--extractor-weights FILE)"),
    ]


@hookimpl
def register_metrics():
    from ganzoo_metrics.protocols import PROTOCOLS

    return list(PROTOCOLS)


@hookimpl
def register_commands():
    """``ganzoo features train``."""
    from ganzoo import CommandSpec
    from ganzoo_metrics.commands import features

    return [CommandSpec(name="features", command=features,
                        description="train a classifier to use as a metric feature extractor")]
