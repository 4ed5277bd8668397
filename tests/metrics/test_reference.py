"""The real-data reference of a metric protocol, and the class-accuracy metric of conditional generators."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_raw
from ganzoo.data import data_info, load_data
from ganzoo.config import resolve
from ganzoo.errors import ConfigError
from ganzoo.metrics import EvalSettings, evaluate_generator, evaluate_real_reference, reference_split


def settings(tmp_path) -> EvalSettings:
    return EvalSettings(extractor="mnist-cnn", progress=False, cache_dir=tmp_path / "cache", batch_size=200)


@pytest.fixture(scope="module")
def digits(registry):
    cfg = resolve(tiny_raw(data={"name": "digits", "resolution": 16}), registry)
    train = load_data(cfg, registry, "train")
    return cfg, train, data_info(train)


class ReplayG(torch.nn.Module):
    """A 'generator' that returns real digits of the class it is asked for (shifted by ``shift``)."""

    def __init__(self, data, shift: int = 0) -> None:
        super().__init__()
        self.z_dim, self.shift = 4, shift
        x = data.images.float() / 127.5 - 1
        self.by_class = [x[data.labels == c] for c in range(10)]
        self.count = 0

    def forward(self, z, y=None):
        out = []
        for c in y.tolist():
            pool = self.by_class[(c + self.shift) % 10]
            out.append(pool[self.count % len(pool)])
            self.count += 1
        return torch.stack(out)


def test_reference_uses_a_split_the_protocol_does_not_compare_with(registry):
    assert reference_split(registry.get("metrics", "fid2k")) == "train"   # FID compares with test
    assert reference_split(registry.get("metrics", "swd2k")) == "test"    # SWD compares with train
    assert reference_split(registry.get("metrics", "is2k")) == "test"


def test_real_reference_is_near_the_floor_and_names_its_source(digits, registry, tmp_path):
    cfg, _, info = digits
    ref = {r.name: r for r in evaluate_real_reference(cfg, info, ["fid2k", "is2k", "swd2k"], settings(tmp_path),
                                                      registry)}
    assert ref["fid2k@mnist-cnn"].protocol["generator"] == "real-train"
    assert ref["swd2k"].protocol["generator"] == "real-test"
    assert ref["swd2k"].protocol["n_fake_used"] == ref["swd2k"].protocol["n_real_used"]
    # Real digits score higher IS and far lower FID than an untrained generator.
    noise = resolve(tiny_raw(data={"name": "digits", "resolution": 16}), registry)
    from ganzoo.train.networks import build_networks
    G, _ = build_networks(noise, registry, info)
    fake = {r.name: r for r in evaluate_generator(G, noise, info, ["fid2k", "is2k"], settings(tmp_path),
                                                         registry)}
    assert ref["is2k@mnist-cnn"].values["is"] > fake["is2k@mnist-cnn"].values["is"] + 0.5
    assert ref["fid2k@mnist-cnn"].values["fid"] < 0.2 * fake["fid2k@mnist-cnn"].values["fid"]
    assert ref["fid2k@mnist-cnn"].protocol_hash != fake["fid2k@mnist-cnn"].protocol_hash


def test_class_accuracy_counts_samples_of_their_conditioning_class(registry, tmp_path):
    cfg = resolve(tiny_raw(data={"name": "mnist", "resolution": 32}), registry)
    train = load_data(cfg, registry, "test")
    info = data_info(train)
    right = evaluate_generator(ReplayG(train), cfg, info, ["cacc2k"], settings(tmp_path), registry)[0]
    wrong = evaluate_generator(ReplayG(train, shift=1), cfg, info, ["cacc2k"], settings(tmp_path), registry)[0]
    assert right.values["cacc"] > 0.9
    assert wrong.values["cacc"] < 0.1
    assert right.protocol["n_fake_used"] == 2000


def test_class_accuracy_refuses_unconditional_data(registry, tmp_path):
    cfg = resolve(tiny_raw(data={"name": "digits", "resolution": 16}), registry)
    info = data_info(load_data(cfg, registry, "train")).__class__(resolution=16, channels=1, num_classes=0)
    from ganzoo.train.networks import build_networks
    G, _ = build_networks(cfg, registry, info)
    with pytest.raises(ConfigError, match="class-conditional"):
        evaluate_generator(G, cfg, info, ["cacc2k"], settings(tmp_path), registry)
