"""The offline digit classifier: shipped weights, their recorded accuracy, stacked-digit labels,
and a tiny deterministic training run that round-trips through save/load."""

from __future__ import annotations

import pytest
import torch

from ganzoo.data import DataRequest, ImageData, resize_uint8
from ganzoo_metrics.classifier import (
    DIGITS_CLASSIFIER_INFO,
    DIGITS_CLASSIFIER_PATH,
    DigitClassifier,
    evaluate_accuracy,
    extract,
    file_sha256,
    load_classifier,
    load_digits_classifier,
    predict_stacked,
    random_downscale,
    random_shift,
    save_classifier,
    train_classifier,
)


def _load(registry, name: str, split: str, resolution: int, **params) -> ImageData:
    spec = registry.get("datasets", name)
    return spec.load(spec.params(**params), DataRequest(resolution=resolution, split=split))


@pytest.fixture(scope="module")
def shipped():
    return load_digits_classifier()


def test_shipped_weights_load_with_weights_only_and_match_the_json(shipped):
    assert DIGITS_CLASSIFIER_PATH.stat().st_size < 2_000_000
    assert file_sha256(DIGITS_CLASSIFIER_PATH) == DIGITS_CLASSIFIER_INFO["sha256"]
    payload = torch.load(DIGITS_CLASSIFIER_PATH, map_location="cpu", weights_only=True)
    assert set(payload) == {"state_dict", "config", "info"}
    assert payload["config"] == {"in_channels": 1, "num_classes": 10, "arch": "digit-cnn-v1"}
    assert not shipped.training
    assert DIGITS_CLASSIFIER_INFO["param_count"] == sum(p.numel() for p in shipped.parameters())
    assert DIGITS_CLASSIFIER_INFO["train_size"] == 4000


def test_shipped_accuracy_on_the_mnist_test_split(registry, shipped):
    recorded = DIGITS_CLASSIFIER_INFO["accuracies"]
    assert DIGITS_CLASSIFIER_INFO["test_accuracy"] == recorded["mnist_test_32"]
    acc = evaluate_accuracy(shipped, _load(registry, "mnist", "test", 32))
    assert acc > 0.97
    assert acc >= recorded["mnist_test_32"] - 0.005
    # The network resizes inside: the native 28x28 digits classify about as well.
    assert evaluate_accuracy(shipped, _load(registry, "mnist", "test", 28)) > 0.97
    # Trained with resolution augmentation, it also reads the 16x16 digits GANs are trained on
    # (about 62% without it).
    acc16 = evaluate_accuracy(shipped, _load(registry, "mnist", "test", 16))
    assert acc16 > 0.93
    assert acc16 >= recorded["mnist_test_16"] - 0.01
    assert evaluate_accuracy(shipped, _load(registry, "mnist", "test", 12)) > 0.9


def test_predict_stacked_recovers_stacked_labels(registry, shipped):
    data = _load(registry, "stacked-digits", "test", 32, size=500)  # the test split has `size` images
    pred = predict_stacked(shipped, data.images)
    assert pred.shape == (500,) and pred.dtype == torch.int64
    assert (pred == data.labels).double().mean().item() > 0.90
    low = _load(registry, "stacked-digits", "test", 16, size=500)
    assert torch.equal(low.labels, data.labels)
    assert (predict_stacked(shipped, low.images) == low.labels).double().mean().item() > 0.88


def test_features_shapes_and_batch_independence(shipped):
    images = torch.randint(0, 256, (7, 1, 16, 16), dtype=torch.uint8)
    out = extract(shipped, images, batch_size=3)
    assert out["pool"].shape == (7, 128) and out["logits"].shape == (7, 10)
    assert (out["pool"] >= 0).all()
    whole = extract(shipped, images, batch_size=100)
    torch.testing.assert_close(out["logits"], whole["logits"], rtol=1e-5, atol=1e-5)
    assert shipped.feature_dims == {"pool": 128, "logits": 10}
    with pytest.raises(ValueError, match="uint8"):
        shipped(images.float())
    with pytest.raises(ValueError, match="channel"):
        shipped(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_random_shift_moves_images_by_at_most_the_shift():
    img = torch.zeros(64, 1, 12, 12, dtype=torch.uint8)
    img[:, :, 5, 6] = 255
    out = random_shift(img, 2, torch.Generator().manual_seed(0))
    ys, xs = torch.nonzero(out[:, 0] == 255, as_tuple=True)[1:]
    assert len(ys) == 64  # the dot survives, once per image
    assert set((ys - 5).tolist()) == {-2, -1, 0, 1, 2}
    assert set((xs - 6).tolist()) == {-2, -1, 0, 1, 2}


def test_random_downscale_resizes_a_share_of_images_like_the_datasets():
    images = torch.randint(0, 256, (200, 1, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    groups = random_downscale(images, 0.5, 12, 28, torch.Generator().manual_seed(1))
    seen = torch.cat([idx for idx, _ in groups])
    assert torch.equal(seen.sort().values, torch.arange(200))  # every image exactly once
    sizes = [g.shape[-1] for _, g in groups]
    assert sizes[0] == 32 and sizes[1:] == sorted(sizes[1:])
    assert all(12 <= s <= 28 for s in sizes[1:]) and len(sizes) > 5
    kept = len(groups[0][0])
    assert 60 < kept < 140  # about half keep their size
    for idx, out in groups:
        assert out.dtype == torch.uint8
        assert torch.equal(out, resize_uint8(images[idx], out.shape[-1]))
    again = random_downscale(images, 0.5, 12, 28, torch.Generator().manual_seed(1))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(groups, again))
    (idx, out), = random_downscale(images, 0.0, 12, 28, torch.Generator().manual_seed(1))
    assert torch.equal(idx, torch.arange(200)) and torch.equal(out, images)
    with pytest.raises(ValueError, match="min_size"):
        random_downscale(images, 0.5, 20, 12, torch.Generator())


def test_training_with_resolution_augmentation_is_deterministic(registry):
    train = _load(registry, "mnist", "train", 32)
    train = ImageData(train.images[:256], train.labels[:256], 10, "mnist/train[:256]")
    kw = dict(epochs=1, batch_size=64, seed=0, resize_prob=0.5, progress=False)
    model, metrics = train_classifier(train, train, **kw)
    again, _ = train_classifier(train, train, **kw)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert metrics["resize_prob"] == 0.5 and metrics["resize_range"] == [12, 28]
    plain, plain_metrics = train_classifier(train, train, **{**kw, "resize_prob": 0.0})
    assert plain_metrics["resize_prob"] == 0.0
    assert not torch.equal(plain.head.weight, model.head.weight)
    with pytest.raises(ValueError, match="resize_prob"):
        train_classifier(train, train, **{**kw, "resize_prob": 1.5})


def test_tiny_training_is_deterministic_and_round_trips(registry, tmp_path):
    train = _load(registry, "digits", "train", 8)
    train = ImageData(train.images[:320], train.labels[:320], 10, "digits/train[:320]")
    test = _load(registry, "digits", "test", 8)
    kw = dict(epochs=1, batch_size=64, seed=3, progress=False)
    model, metrics = train_classifier(train, test, **kw)
    again, metrics_again = train_classifier(train, test, **kw)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert metrics["test_accuracy"] == metrics_again["test_accuracy"]
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["n_train"] == 320
    assert not model.training
    other, _ = train_classifier(train, test, **{**kw, "seed": 4})
    assert not torch.equal(other.head.weight, model.head.weight)

    path = tmp_path / "tiny.pt"
    save_classifier(model, path, {"note": "tiny", "test_accuracy": metrics["test_accuracy"]})
    loaded = load_classifier(path)
    assert loaded.info == {"note": "tiny", "test_accuracy": metrics["test_accuracy"]}
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    # A loaded classifier computes in channels_last (faster on CPU); in the same layout, bit-equal.
    torch.testing.assert_close(extract(loaded, test.images)["logits"],
                               extract(model.to(memory_format=torch.channels_last), test.images)["logits"],
                               rtol=0, atol=0)
    assert len(file_sha256(path)) == 64

    # info is stored as plain values, so weights_only loading works for what callers pass in.
    import numpy as np

    save_classifier(model, path, {"torch": torch.__version__, "acc": np.float64(0.5),
                                  "n": np.int64(3), "where": tmp_path, "hist": ({"a": 1},)})
    assert load_classifier(path).info == {"torch": str(torch.__version__), "acc": 0.5, "n": 3,
                                          "where": str(tmp_path), "hist": [{"a": 1}]}
    with pytest.raises(TypeError, match="info.bad"):
        save_classifier(model, tmp_path / "bad.pt", {"bad": object()})
    assert not (tmp_path / "bad.pt").exists()


def test_three_channel_training_runs(tmp_path):
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 2
    images = torch.randint(0, 100, (64, 3, 16, 16), dtype=torch.uint8, generator=gen)
    images[labels == 1, 0] += 120  # class 1 is redder
    data = ImageData(images, labels, num_classes=2, name="toy-rgb")
    model, metrics = train_classifier(data, data, epochs=3, batch_size=16, progress=False)
    assert model.in_channels == 3 and model.head.out_features == 2
    assert metrics["test_accuracy"] > 0.9
    save_classifier(model, tmp_path / "rgb.pt", {})
    assert load_classifier(tmp_path / "rgb.pt").config()["in_channels"] == 3


def test_constructor_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="in_channels"):
        DigitClassifier(in_channels=2)
