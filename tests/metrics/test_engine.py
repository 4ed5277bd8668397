"""The metric engine: protocol names and hashes, cached real statistics, streamed fakes, standing
statistics, truncation, and `ganzoo eval` end to end on a digits checkpoint."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from conftest import tiny_raw
from ganzoo.train.latents import LatentSampler
from ganzoo.train.networks import load_generator
from ganzoo.cli import main
from ganzoo.config import resolve
from ganzoo.metrics import EvalSettings, FakeImages, MetricContext, evaluate, standing_statistics
from ganzoo.train import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, registry):
    cfg = resolve(tiny_raw(data={"name": "digits", "resolution": 16},
                           train={"g_steps": 3, "batch_size": 16, "n_disc": 1, "seed": 0}), registry)
    out = tmp_path_factory.mktemp("run")
    train(cfg, out, registry=registry, progress=False)
    return out / "checkpoint.pt"


def settings(tmp_path, **kw) -> EvalSettings:
    return EvalSettings(extractor="mnist-cnn", progress=False, cache_dir=tmp_path / "cache", **kw)


def test_every_protocol_returns_named_hashed_values(ckpt, tmp_path, registry):
    names = ["fid2k", "is2k", "kid2k", "pr2k", "swd2k", "msssim1k"]
    results = evaluate(ckpt, names, settings(tmp_path, batch_size=333), registry)
    by = {r.name: r for r in results}
    assert set(by) == {"fid2k@mnist-cnn", "is2k@mnist-cnn", "kid2k@mnist-cnn", "pr2k@mnist-cnn",
                       "swd2k", "msssim1k"}
    for r in results:
        assert len(r.protocol_hash) == 12 and all(math.isfinite(v) for v in r.values.values())
        assert r.protocol["generator"] == "ema" and r.protocol["quantisation"] == "uint8-round-clip"
    assert by["fid2k@mnist-cnn"].values["fid"] > 0
    assert by["fid2k@mnist-cnn"].protocol["extractor_weights_sha256"]
    assert by["fid2k@mnist-cnn"].protocol["n_real_used"] <= 2000
    assert 1 <= by["is2k@mnist-cnn"].values["is"] <= 10
    assert set(by["swd2k"].values) == {"swd_16", "swd_avg"}
    assert 0 < by["msssim1k"].values["ms_ssim"] <= 1


def test_protocol_hash_follows_every_choice(ckpt, tmp_path, registry):
    base = evaluate(ckpt, ["is2k"], settings(tmp_path), registry)[0]
    assert evaluate(ckpt, ["is2k"], settings(tmp_path), registry)[0].protocol_hash == base.protocol_hash
    for change in ({"truncation": 1.0}, {"bn": "standing"}, {"seed": 7}, {"generator": "raw"}):
        other = evaluate(ckpt, ["is2k"], settings(tmp_path, **change), registry)[0]
        assert other.protocol_hash != base.protocol_hash, change


def test_real_features_are_cached_by_content(ckpt, tmp_path, registry, monkeypatch):
    evaluate(ckpt, ["fid2k"], settings(tmp_path), registry)
    files = list((tmp_path / "cache" / "stats").glob("*.npz"))
    assert len(files) == 1
    calls = []
    original = MetricContext._features

    def counting(self, batches, total, desc):
        calls.append(desc)
        return original(self, batches, total, desc)

    monkeypatch.setattr(MetricContext, "_features", counting)
    evaluate(ckpt, ["fid2k"], settings(tmp_path), registry)
    assert len(calls) == 1 and "fake" in calls[0]  # the real side came from the cache


def test_fakes_are_deterministic_prefixes(ckpt, registry):
    G, cfg, info, _ = load_generator(ckpt, registry)
    fake = FakeImages(G, cfg, info, EvalSettings(progress=False, batch_size=7))
    a = torch.cat(list(fake.batches(20)))
    b = torch.cat(list(fake.batches(9)))
    assert a.dtype == torch.uint8 and a.shape[0] == 20
    assert torch.equal(a[:9], b)


class _TinyG(torch.nn.Module):
    z_dim = 4

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.bn = torch.nn.BatchNorm1d(3)

    def forward(self, z, y=None):
        return self.bn(self.fc(z))


def test_standing_statistics_average_the_batch_statistics():
    torch.manual_seed(0)
    G = _TinyG()
    check = LatentSampler(4, "normal", 0, seed=1)
    with torch.no_grad():
        batch_means = [G.fc(check.sample(8)[0]).mean(0) for _ in range(5)]
    standing = standing_statistics(G, LatentSampler(4, "normal", 0, seed=1), batches=5, batch_size=8)
    # torch's cumulative average (momentum=None) of the batch means; eval mode afterwards.
    assert torch.allclose(standing.bn.running_mean, torch.stack(batch_means).mean(0), atol=1e-6)
    assert not standing.training and G.bn.running_mean.abs().sum() == 0  # G itself untouched
    z = torch.randn(6, 4)
    with torch.no_grad():
        assert torch.allclose(standing(z[:1]), standing(z)[:1], atol=1e-6)  # independent of batch size


def test_truncation_resamples_within_the_threshold():
    z, _ = LatentSampler(64, "normal", 0, seed=0, truncation=0.5).sample(2000)
    assert z.abs().max() <= 0.5
    # Resampling gives the normal distribution truncated to [-0.5, 0.5]: P(|z| < 0.25 | |z| < 0.5).
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    expected = (phi(0.25) - phi(-0.25)) / (phi(0.5) - phi(-0.5))
    assert abs((z.abs() < 0.25).float().mean().item() - expected) < 0.01


def test_eval_cli_prints_protocols(ckpt, tmp_path):
    res = CliRunner().invoke(main, ["eval", str(ckpt), "--metrics", "fid2k,is2k,swd2k,msssim1k",
                                    "--cache-dir", str(tmp_path / "c"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["name"] for r in out] == ["fid2k@mnist-cnn", "is2k@mnist-cnn", "swd2k", "msssim1k"]
    table = CliRunner().invoke(main, ["eval", str(ckpt), "--metrics", "is2k", "--cache-dir", str(tmp_path / "c")])
    assert "is2k@mnist-cnn" in table.output and "protocol hash" in table.output


def test_eval_with_inception_offline_says_which_file(ckpt, tmp_path):
    res = subprocess.run([sys.executable, "-m", "ganzoo.cli", "eval", str(ckpt), "--metrics", "fid2k",
                          "--extractor", "inception-v3-fid", "--offline", "--cache-dir", str(tmp_path / "c")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 2
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "https://" in err
    assert str(tmp_path / "c" / "weights") in err


def test_modes_needs_stacked_digits(ckpt, tmp_path, registry):
    from ganzoo.errors import ConfigError

    with pytest.raises(ConfigError, match="stacked"):
        evaluate(ckpt, ["modes25k"], dataclasses.replace(settings(tmp_path)), registry)


def test_features_train_then_eval_with_that_classifier(ckpt, tmp_path):
    weights = tmp_path / "digits-cnn.pt"
    res = CliRunner().invoke(main, ["features", "train", "--dataset", "digits", "--resolution", "16",
                                    "--epochs", "1", "--out", str(weights)])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout[res.stdout.index("{"):])
    assert 0 <= info["test_accuracy"] <= 1 and info["dataset"] == "digits" and len(info["sha256"]) == 64
    again = CliRunner().invoke(main, ["features", "train", "--dataset", "digits", "--out", str(weights)])
    assert again.exit_code == 2 and "exists" in again.output  # nothing already written is overwritten
    out = CliRunner().invoke(main, ["eval", str(ckpt), "--metrics", "fid2k", "--extractor", "classifier",
                                    "--extractor-weights", str(weights), "--cache-dir", str(tmp_path / "c"),
                                    "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)[0]
    assert result["name"] == "fid2k@classifier"
    assert result["protocol"]["extractor_weights_sha256"] == info["sha256"]


class _BlockStub(torch.nn.Module):
    """A cheap extractor with one extra named output, recording what it was asked for."""

    weights_hash, resizer = "stub", "none"
    block_outputs = {"block768": 4}

    def __init__(self, calls: list) -> None:
        super().__init__()
        self.calls = calls

    def forward(self, images, outputs=None):
        self.calls.append(outputs)
        x = images.float().flatten(1) / 255
        feats = {"pool": x[:, 40:48], "logits": torch.zeros(len(x), 10), "block768": x[:, 100:104] ** 2}
        return {k: feats[k] for k in (outputs or ("pool", "logits"))}


def test_block_feature_fid_protocols_ask_the_extractor_for_their_block(ckpt, tmp_path, registry):
    import types

    from ganzoo import ExtractorSpec, hookimpl
    from ganzoo.errors import ConfigError
    from ganzoo.registry import load_registry

    calls: list = []
    plugin = types.ModuleType("blockstub")
    plugin.register_extractors = hookimpl(lambda: [ExtractorSpec("stub", lambda req: _BlockStub(calls))])
    reg = load_registry(autoload=False, extra=[(plugin, "blockstub")])
    s = EvalSettings(extractor="stub", progress=False, cache_dir=tmp_path / "cache")
    plain, d768 = evaluate(ckpt, ["fid2k", "fid2k-d768"], s, reg)
    assert (plain.name, d768.name) == ("fid2k@stub", "fid2k-d768@stub")
    assert d768.protocol["dims"] == 768 and "dims" not in plain.protocol  # fid2k's hash is unchanged
    assert d768.protocol_hash != plain.protocol_hash and d768.values["fid"] != plain.values["fid"]
    assert None in calls and ("block768",) in calls and set(calls) == {None, ("block768",)}
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 2  # one real cache per output set
    with pytest.raises(ConfigError, match="block768"):
        evaluate(ckpt, ["fid2k-d768"], settings(tmp_path), registry)  # mnist-cnn has no blocks
