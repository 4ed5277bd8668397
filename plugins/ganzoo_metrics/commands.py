"""The metrics plugin's command line: ``ganzoo features train`` (registered with ``register_commands``).

Trains a small CNN classifier on a labelled dataset for offline IS/FID-style scores; the core CLI
knows nothing of it (the core never imports a plugin).
"""

from __future__ import annotations

from pathlib import Path

import click

from ganzoo.api import GanzooError, user_errors


@click.group()
def features() -> None:
    """Feature extractors for metrics: train your own classifier for offline IS/FID-style scores."""


@features.command("train")
@click.option("--dataset", required=True, help="A labelled dataset, e.g. cifar10, mnist, digits.")
@click.option("--resolution", type=click.IntRange(8), default=32, show_default=True)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--epochs", type=click.IntRange(1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the classifier (.pt).")
@user_errors
def features_train(dataset: str, resolution: int, data_root: Path | None, epochs: int, seed: int,
                   out: Path) -> None:
    """Train a small CNN classifier on a labelled dataset, for use as a metric feature extractor.

    \b
    Example:
      ganzoo features train --dataset cifar10 --data-root data --epochs 20 --out cifar-cnn.pt
      ganzoo eval runs/c/checkpoint.pt --metrics fid10k,is10k --extractor classifier --extractor-weights cifar-cnn.pt
    """
    import json

    from ganzoo.api import DataRequest, load_registry
    from ganzoo_metrics.classifier import file_sha256, save_classifier, train_classifier

    if out.exists():
        raise GanzooError(f"--out {out} exists; choose another file name")
    reg = load_registry()
    spec = reg.get("datasets", dataset, where="--dataset")
    try:
        params = spec.params()
    except Exception as exc:  # a dataset whose params have no defaults (image-folder needs a path)
        raise GanzooError(f"--dataset {dataset}: needs parameters this command cannot set ({exc.__class__.__name__}); "
                          "train on it with a run config instead") from None
    train = spec.load(params, DataRequest(resolution, "train", data_root))
    test = spec.load(params, DataRequest(resolution, "test", data_root))
    if train.labels is None or train.num_classes < 2:
        raise GanzooError(f"--dataset {dataset}: a classifier needs a labelled dataset")
    model, info = train_classifier(train, test, epochs=epochs, seed=seed)
    info.update(dataset=dataset, resolution=resolution, epochs=epochs, seed=seed)
    save_classifier(model, out, info)
    info["sha256"] = file_sha256(out)
    click.echo(json.dumps(info, indent=2, default=str))
