"""The trainer: run files, lossless resume, divergence, refusing to overwrite, the fast path."""

from __future__ import annotations

import json
import types

import pytest
import torch

from conftest import tiny_raw
from ganzoo import RegularizerSpec, checkpoint, hookimpl
from ganzoo.config import resolve
from ganzoo.errors import GanzooError
from ganzoo.registry import load_registry
from ganzoo.train import train


def assert_same_state(a: dict, b: dict, path: str = "") -> None:
    """Every tensor and number in two checkpoint dicts is identical (bit for bit)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            if k not in ("seconds",):
                assert_same_state(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a, b), f"{path} differs"
    else:
        assert a == b, path


def test_run_writes_its_files(tmp_path, tiny_cfg, registry):
    res = train(tiny_cfg, tmp_path / "run", registry=registry, progress=False)
    assert res.status == "finished" and res.step == 6
    assert res.images_shown == 6 * 2 * 16  # g_steps * n_disc * batch
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text()) == json.loads(tiny_cfg.to_json())
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "d_loss" in r] == [2, 4, 6]
    assert log[0]["event"] == "start" and log[-1]["event"] == "finished"
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in log if "d_loss" in r)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-0000003.png", "step-0000006.png"]
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["step"] == 6 and state["G_ema"] is not None
    assert set(state) >= {"G", "D", "G_opt", "D_opt", "sampler", "latents", "rng_torch", "config"}


def test_resume_is_bit_exact(tmp_path, tiny_cfg, registry):
    train(tiny_cfg, tmp_path / "straight", registry=registry, progress=False)
    first = train(tiny_cfg, tmp_path / "split", registry=registry, progress=False, stop_at=4)
    assert first.status == "stopped" and first.step == 4
    second = train(tiny_cfg, tmp_path / "split", resume=True, registry=registry, progress=False)
    assert second.status == "finished" and second.step == 6
    a = checkpoint.load(tmp_path / "straight" / "checkpoint.pt")
    b = checkpoint.load(tmp_path / "split" / "checkpoint.pt")
    assert_same_state(a, b)
    # The log of the resumed run holds each step once.
    steps = [json.loads(x).get("step") for x in (tmp_path / "split" / "log.jsonl").read_text().splitlines()
             if "d_loss" in x]
    assert steps == [2, 4, 6]


def test_resuming_a_finished_run_logs_one_finish(tmp_path, tiny_cfg, registry):
    # A kill after the run logged "finished" but before the bench recorded it: the bench resumes it
    # from its last checkpoint (the final step), and the log still ends the run once; a line the
    # kill cut short is dropped, not a reason to fail.
    train(tiny_cfg, tmp_path / "run", registry=registry, progress=False)
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('{"step": 6, "name": "fi')  # and a line the kill cut short
    again = train(tiny_cfg, tmp_path / "run", resume=True, registry=registry, progress=False)
    assert again.status == "finished" and again.step == 6
    events = [json.loads(x).get("event") for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert events.count("finished") == 1 and events[-2:] == ["resume", "finished"]
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "finished"
    assert all(json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines())


def test_training_changes_the_networks_and_seeds_matter(tmp_path, registry):
    cfg = resolve(tiny_raw(), registry)
    train(cfg, tmp_path / "a", registry=registry, progress=False)
    other = resolve(tiny_raw(train={"g_steps": 6, "batch_size": 16, "n_disc": 2, "seed": 4}), registry)
    train(other, tmp_path / "b", registry=registry, progress=False)
    a = checkpoint.load(tmp_path / "a" / "checkpoint.pt")["G"]
    b = checkpoint.load(tmp_path / "b" / "checkpoint.pt")["G"]
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_refuses_to_overwrite_and_checks_resume_config(tmp_path, tiny_cfg, registry):
    train(tiny_cfg, tmp_path / "run", registry=registry, progress=False, stop_at=3)
    before = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    with pytest.raises(GanzooError, match="already holds a run; pass --resume"):
        train(tiny_cfg, tmp_path / "run", registry=registry, progress=False)
    changed = resolve(tiny_raw(loss={"name": "non-saturating"}), registry)
    with pytest.raises(GanzooError, match="loss.name: 'hinge' -> 'non-saturating'"):
        train(changed, tmp_path / "run", resume=True, registry=registry, progress=False)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == before


def _nan_plugin(after: int) -> types.ModuleType:
    mod = types.ModuleType("nan_plugin")

    def penalty(ctx, p):
        return torch.tensor(float("nan")) if ctx.step >= after else torch.zeros(())

    mod.register_regularizers = hookimpl(lambda: [RegularizerSpec(name="nan-after", penalty=penalty)])
    return mod


def test_divergence_ends_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    reg = load_registry(autoload=False, extra=[(_nan_plugin(after=4), "nan-plugin")])
    cfg = resolve(tiny_raw(regularizers=[{"name": "nan-after"}]), reg)
    res = train(cfg, tmp_path / "run", registry=reg, progress=False)
    assert res.status == "diverged" and res.step == 4
    state = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    assert state["step"] == 3  # the checkpoint written at step 3 is kept, nothing after it
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "diverged"
    assert any('"diverged"' in line for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines())


def test_fast_path_runs_and_is_recorded(tmp_path, registry):
    cfg = resolve(tiny_raw(fast={"channels_last": True, "bf16": True},
                           regularizers=[{"name": "wgan-gp"}]), registry)
    res = train(cfg, tmp_path / "run", registry=registry, progress=False)
    assert res.status == "finished"
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["fast"] == {"channels_last": True, "bf16": True, "threads": None}


def _growing_raw(**train):
    # 16x16 digits: lod 2 (4x4) -> 0 (16x16); each stabilise/fade segment is 64 images = 4 G steps of 16.
    return tiny_raw(
        model={"name": "pggan", "params": {"fmap_base": 32, "fmap_max": 4, "z_dim": 8,
                                           "stabilize_kimg": 0.064, "fade_kimg": 0.064}},
        data={"name": "digits", "resolution": 16},
        loss={"name": "wgan"},
        regularizers=[{"name": "wgan-gp"}, {"name": "drift"}],
        train={"g_steps": 14, "batch_size": 16, "n_disc": 1, "seed": 1, **train},
        g_optim={"lr": 1e-3, "beta1": 0.0, "beta2": 0.99}, d_optim={"lr": 1e-3, "beta1": 0.0, "beta2": 0.99},
    )


def test_growing_run_resumes_in_the_same_phase_with_the_same_alpha(tmp_path, registry):
    cfg = resolve(_growing_raw(), registry)
    straight = train(cfg, tmp_path / "straight", registry=registry, progress=False)
    assert straight.status == "finished"
    first = train(cfg, tmp_path / "split", registry=registry, progress=False, stop_at=6)
    mid = checkpoint.load(tmp_path / "split" / "checkpoint.pt")
    # after 6 G steps (96 images) the run is halfway through the first fade: lod 2 - 0.5
    lod = float(mid["G"]["lod"])
    assert first.step == 6 and 1.0 < lod < 2.0 and mid["phase_key"] == [1, 2]
    train(cfg, tmp_path / "split", resume=True, registry=registry, progress=False)
    assert_same_state(checkpoint.load(tmp_path / "straight" / "checkpoint.pt"),
                      checkpoint.load(tmp_path / "split" / "checkpoint.pt"))
    log = [json.loads(x) for x in (tmp_path / "straight" / "log.jsonl").read_text().splitlines()]
    phases = [e for e in log if e.get("event") == "phase"]
    # Fades run over images 64-128 and 192-256; Adam is reset at the first step whose lod has a new
    # (floor, ceil): the step starting at 80 images (lod 1.75), at 128 (lod 1) and at 208 (lod 0.75).
    assert [e["kimg"] for e in phases] == [0.08, 0.128, 0.208]
    # one sample grid at the end of each phase: (2, 2) = 4x4, (1, 2) = the fade to 8x8, (1, 1) = 8x8
    grids = sorted(p.name.split("-kimg")[0] for p in (tmp_path / "straight" / "samples").glob("phase-*.png"))
    assert grids == ["phase-11", "phase-12", "phase-22"]
    assert float(checkpoint.load(tmp_path / "straight" / "checkpoint.pt")["G"]["lod"]) == 0.75  # last step: 208 images


def test_unrolled_generator_step_trains_and_differs(tmp_path, registry):
    base = train(resolve(tiny_raw(train={"g_steps": 2, "batch_size": 16, "n_disc": 1, "seed": 3}), registry),
                 tmp_path / "a", registry=registry, progress=False)
    unrolled = train(resolve(tiny_raw(train={"g_steps": 2, "batch_size": 16, "n_disc": 1, "seed": 3,
                                             "unroll": 2}), registry),
                     tmp_path / "b", registry=registry, progress=False)
    assert base.status == unrolled.status == "finished"
    ga = checkpoint.load(tmp_path / "a" / "checkpoint.pt")["G"]
    gb = checkpoint.load(tmp_path / "b" / "checkpoint.pt")["G"]
    assert any(not torch.equal(ga[k], gb[k]) for k in ga)


@pytest.mark.parametrize("dist, values", [
    ("bernoulli", {0.0, 1.0}), ("bernoulli-pm1", {-1.0, 1.0}), ("categorical3", {-1.0, 0.0, 1.0}),
])
def test_discrete_latents_of_biggan_appendix_e(dist, values):
    from ganzoo.train.latents import LatentSampler

    z, _ = LatentSampler(64, dist, 0, seed=0).sample(500)
    assert set(z.unique().tolist()) == values
    for v in values:  # equal probabilities
        assert abs((z == v).float().mean().item() - 1 / len(values)) < 0.02


def test_continuous_latents_of_biggan_appendix_e():
    from ganzoo.train.latents import LatentSampler

    z, _ = LatentSampler(64, "censored-normal", 0, seed=0).sample(2000)
    assert z.min() == 0 and abs((z == 0).float().mean().item() - 0.5) < 0.02
    z, _ = LatentSampler(64, "normal-x-bernoulli", 0, seed=0).sample(2000)
    assert abs((z == 0).float().mean().item() - 0.5) < 0.02 and z.min() < -2
    z, _ = LatentSampler(64, "normal-and-bernoulli", 0, seed=0).sample(2000)
    assert set(z[:, 32:].unique().tolist()) == {0.0, 1.0} and z[:, :32].min() < -2
    with pytest.raises(Exception, match="normal latent"):
        LatentSampler(64, "bernoulli", 0, seed=0, truncation=1.0)


def test_lsgan_with_adaptive_d_noise_tracks_d_on_reals(tmp_path, registry):
    raw = _growing_raw(g_steps=4)
    raw["model"]["params"]["d_noise"] = True
    raw["loss"] = {"name": "lsgan"}
    raw["regularizers"] = []
    res = train(resolve(raw, registry), tmp_path / "ls", registry=registry, progress=False)
    assert res.status == "finished"
    d_hat = float(checkpoint.load(tmp_path / "ls" / "checkpoint.pt")["D"]["d_hat"])
    assert d_hat != 0.0  # the trainer reported D's logits on the reals four times


def _accumulated_raw(acc: int, **train):
    # PGGAN without growing, batch statistics or minibatch stddev: no layer sees the batch as a whole,
    # so micro-batches must give the minibatch's gradients (up to the order of float sums).
    return tiny_raw(
        model={"name": "pggan", "params": {"fmap_base": 64, "fmap_max": 8, "z_dim": 8,
                                           "progressive": False, "mbstat": "none"}},
        regularizers=[{"name": "r1"}, {"name": "drift"}],
        ema={"enabled": False},
        log={"log_every": 1, "sample_every": 0, "checkpoint_every": 3, "n_samples": 4},
        train={"g_steps": 3, "batch_size": 16, "n_disc": 2, "seed": 5, "accumulate": acc, **train},
    )


def test_accumulated_micro_batches_train_as_the_whole_minibatch(tmp_path, registry):
    """``train.accumulate = 4``: the logged losses are the minibatch's and the weights match one pass."""
    logs, nets = {}, {}
    for acc in (1, 4):
        out = tmp_path / f"acc{acc}"
        assert train(resolve(_accumulated_raw(acc), registry), out, registry=registry,
                     progress=False).status == "finished"
        logs[acc] = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        logs[acc] = [(r["d_loss"], r["g_loss"]) for r in logs[acc] if "d_loss" in r]
        state = checkpoint.load(out)
        nets[acc] = {**{f"G.{k}": v for k, v in state["G"].items()}, **{f"D.{k}": v for k, v in state["D"].items()}}
    assert len(logs[1]) == len(logs[4]) == 3
    for one, four in zip(logs[1], logs[4]):  # a sum without the 1/4 would log 4x the loss
        assert four == pytest.approx(one, rel=1e-4, abs=1e-5)
    assert nets[1].keys() == nets[4].keys()
    for k in nets[1]:
        assert torch.allclose(nets[1][k], nets[4][k], rtol=1e-4, atol=1e-5), k
    # Micro-batches are not a no-op: with batch statistics (minibatch stddev) the runs differ.
    raw = _accumulated_raw(4)
    raw["model"]["params"]["mbstat"] = "stddev"
    train(resolve(raw, registry), tmp_path / "mbstd4", registry=registry, progress=False)
    raw["train"]["accumulate"] = 1
    train(resolve(raw, registry), tmp_path / "mbstd1", registry=registry, progress=False)
    a, b = checkpoint.load(tmp_path / "mbstd4")["D"], checkpoint.load(tmp_path / "mbstd1")["D"]
    assert any(not torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_accumulate_is_checked_and_leaves_existing_run_keys_alone(registry, tiny_cfg):
    one = tiny_raw(train={**tiny_raw()["train"], "accumulate": 1})
    two = tiny_raw(train={**tiny_raw()["train"], "accumulate": 2})
    assert resolve(one, registry).hash() == tiny_cfg.hash()  # stores keep their keys
    assert resolve(two, registry).hash() != tiny_cfg.hash()
    with pytest.raises(GanzooError, match="not divisible by 3 micro-batches"):
        resolve(tiny_raw(train={**tiny_raw()["train"], "accumulate": 3}), registry)
    with pytest.raises(GanzooError, match="train.unroll"):
        resolve(tiny_raw(train={**tiny_raw()["train"], "accumulate": 2, "unroll": 1}), registry)
