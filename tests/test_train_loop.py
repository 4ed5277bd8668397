"""ganzoo.train: metric directions and the best kept by training, lazy regularization, the Growing
contract, losses read only when the loop needs them."""

from __future__ import annotations

import json
import types

import pytest
import torch

from conftest import tiny_raw
from ganzoo import ArchitectureSpec, MetricSpec, RegContext, RegularizerSpec, hookimpl
from ganzoo.bench import collect_metrics, run_job
from ganzoo.config import Component, resolve
from ganzoo.errors import ConfigError, PluginError
from ganzoo.registry import load_registry
from ganzoo.store import Store
from ganzoo.train import train
from ganzoo.train.meter import LossMeter
from ganzoo.train.penalties import Penalties


# -- metric directions ---------------------------------------------------------------------------
def _metric_plugin(values: dict[str, list[float]], better: dict) -> types.ModuleType:
    mod = types.ModuleType("score_plugin")
    calls = iter(range(100))

    def compute(ctx):
        i = next(calls)
        return {k: v[i] for k, v in values.items()}

    mod.register_metrics = hookimpl(lambda: [MetricSpec(name="score3", compute=compute, better=better)])
    return mod


def test_third_party_metric_declares_its_direction_and_the_store_gets_its_best(tmp_path):
    values = {"score": [1.0, 5.0, 3.0], "err": [4.0, 2.0, 3.0], "plain": [7.0, 8.0, 9.0]}
    reg = load_registry(autoload=False, extra=[(_metric_plugin(values, {"score": "higher", "err": "lower"}),
                                                "score-plugin")])
    cfg = resolve(tiny_raw(eval={"metrics": ["score3"], "every": 2}), reg)  # evaluated at steps 2, 4, 6
    job = {"key": "k1", "config": cfg.to_json(), "run_dir": str(tmp_path / "run"), "threads": None,
           "name": "tiny", "sweep": None}
    outcome = run_job(job, reg)
    assert outcome["status"] == "finished", outcome["error"]
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["best"] == {"score3/score": {"value": 5.0, "step": 4}, "score3/err": {"value": 2.0, "step": 4}}

    store = Store(tmp_path / "store.sqlite")
    store.add_run("k1", "s", "smoke", {}, 0, cfg.to_json(), job["run_dir"])
    store.record("k1", outcome["results"], outcome["series"])
    stored = store.records("s", "smoke")[0]["values"]
    store.close()
    assert (stored["score3/score"]["best"], stored["score3/score"]["best_step"]) == (5.0, 4)
    assert (stored["score3/err"]["best"], stored["score3/err"]["best_step"]) == (2.0, 4)
    assert stored["score3/plain"]["best"] is None and stored["score3/plain"]["final"] == 9.0


def test_bench_reads_best_from_training_not_from_the_series(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text(json.dumps({"step": 2, "name": "m", "values": {"fid": 1.0},
                                                   "protocol_hash": "h"}) + "\n")
    (run / "status.json").write_text(json.dumps({"best": {"m/fid": {"value": 3.0, "step": 7}}}))
    results, _ = collect_metrics(run, "finished", 2)
    assert (results[0]["best"], results[0]["best_step"], results[0]["final"]) == (3.0, 7, 1.0)


def test_metric_direction_must_be_lower_or_higher():
    mod = _metric_plugin({"x": [0.0]}, {"x": "up"})
    with pytest.raises(PluginError, match="better\\['x'\\] is 'up'"):
        load_registry(autoload=False, extra=[(mod, "bad-metric")])


# -- lazy regularization -------------------------------------------------------------------------
def _d_and_ctx(seed: int = 0):
    torch.manual_seed(seed)
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 6), torch.nn.Tanh(), torch.nn.Linear(6, 1),
                            torch.nn.Flatten(0))
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    ctx = RegContext(D, D, real, fake, None, None, D(real), D(fake), 0, lambda: torch.autocast("cpu", enabled=False))
    return D, ctx


def _grads(D, loss):
    D.zero_grad()
    loss.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in D.parameters()]


@pytest.mark.parametrize("interval", [4, 16])
def test_lazy_penalty_gradient_is_the_eager_one_times_the_interval(registry, interval):
    lazy = resolve(tiny_raw(regularizers=[{"name": "r1", "params": {"gamma": 3.0}, "interval": interval}]), registry)
    eager = resolve(tiny_raw(regularizers=[{"name": "r1", "params": {"gamma": 3.0}}]), registry)
    assert eager.regularizers[0].interval == 1  # the built-in's default is written into the config
    D, ctx = _d_and_ctx()
    zero = lambda: torch.zeros(())  # noqa: E731
    g_eager = _grads(D, Penalties(eager, registry, "d").add_to(zero(), 0, lambda: ctx))
    for minibatch in range(2 * interval):
        out = Penalties(lazy, registry, "d").add_to(zero(), minibatch, lambda: ctx)
        if minibatch % interval:
            assert not out.requires_grad and out.item() == 0.0  # not due: no penalty at all
        else:
            for a, b in zip(_grads(D, out), g_eager):
                torch.testing.assert_close(a, b * interval, rtol=1e-6, atol=0)


def _counting_plugin(calls: list, interval: int) -> types.ModuleType:
    mod = types.ModuleType("count_plugin")

    def penalty(ctx, p):
        calls.append(ctx.step)
        return ctx.d_real.float().mean() * 0.0

    mod.register_regularizers = hookimpl(lambda: [RegularizerSpec(name="count", penalty=penalty,
                                                                  interval=interval)])
    return mod


def test_lazy_regularizer_runs_every_interval_th_d_minibatch(tmp_path):
    calls: list[int] = []
    reg = load_registry(autoload=False, extra=[(_counting_plugin(calls, 3), "count-plugin")])
    cfg = resolve(tiny_raw(regularizers=[{"name": "count"}]), reg)  # 6 G steps x 2 D steps
    assert cfg.regularizers[0].interval == 3  # the spec's default interval
    train(cfg, tmp_path / "run", registry=reg, progress=False)
    assert calls == [0, 1, 3, 4]  # D minibatches 0, 3, 6, 9 fall in G steps 0, 1, 3, 4
    calls.clear()
    cfg1 = resolve(tiny_raw(regularizers=[{"name": "count", "interval": 1}]), reg)
    train(cfg1, tmp_path / "run1", registry=reg, progress=False)
    assert len(calls) == 12


def test_interval_default_keeps_the_run_hash(registry):
    a = resolve(tiny_raw(regularizers=[{"name": "r1"}]), registry)
    b = resolve(tiny_raw(regularizers=[{"name": "r1", "interval": 16}]), registry)
    # The same run as the config layout before intervals existed describes it.
    before = a.model_copy(update={"regularizers": [Component(**r.model_dump(exclude={"interval"}))
                                                   for r in a.regularizers]})
    assert "interval" not in before.to_json()
    assert before.hash() == a.hash() != b.hash()


# -- the Growing contract ------------------------------------------------------------------------
class _Fixed(torch.nn.Module):
    z_dim = 4


def test_growing_architecture_must_give_growing_networks(tmp_path):
    mod = types.ModuleType("grow_plugin")
    mod.register_architectures = hookimpl(lambda: [ArchitectureSpec(
        name="fake-grow", build=lambda p, info: (_Fixed(), _Fixed()), schedule=lambda p, info, n: None)])
    reg = load_registry(autoload=False, extra=[(mod, "grow-plugin")])
    cfg = resolve(tiny_raw(model={"name": "fake-grow"}), reg)
    with pytest.raises(ConfigError, match="'fake-grow' has a growth schedule but its G lacks set_lod/observe_real"):
        train(cfg, tmp_path / "run", registry=reg, progress=False)


# -- losses stay on the device ---------------------------------------------------------------------
def test_losses_are_read_only_at_log_eval_and_checkpoint_steps(tmp_path, registry, monkeypatch):
    reads = []
    original = LossMeter.read

    def counting(self, reset):
        reads.append((self.count, reset))
        return original(self, reset)

    monkeypatch.setattr(LossMeter, "read", counting)
    cfg = resolve(tiny_raw(train={"g_steps": 12, "batch_size": 16, "n_disc": 1, "seed": 3},
                           log={"log_every": 4, "sample_every": 0, "checkpoint_every": 6, "n_samples": 4}),
                  registry)
    res = train(cfg, tmp_path / "run", registry=registry, progress=False)
    assert res.status == "finished"
    # steps 4 (log), 6 (checkpoint), 8 (log), 12 (log + checkpoint): 4 reads in 12 steps
    assert reads == [(4, True), (2, False), (4, True), (4, True)]
    logged = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "d_loss" in r] == [4, 8, 12]


# -- the fast path ---------------------------------------------------------------------------------
def test_fast_path_uses_fused_adam_and_resumes_bit_exactly(tmp_path, registry, monkeypatch):
    from ganzoo import checkpoint
    from ganzoo.train import state as state_mod
    from test_trainer import assert_same_state

    made = []
    original = state_mod.adam
    monkeypatch.setattr(state_mod, "adam", lambda *a: made.append(a[2]) or original(*a))
    cfg = resolve(tiny_raw(fast={"channels_last": True, "bf16": True}), registry)
    train(cfg, tmp_path / "straight", registry=registry, progress=False)
    assert made == [True, True]
    train(cfg, tmp_path / "split", registry=registry, progress=False, stop_at=4)
    train(cfg, tmp_path / "split", resume=True, registry=registry, progress=False)
    a, b = (checkpoint.load(tmp_path / d / "checkpoint.pt") for d in ("straight", "split"))
    assert a["D_opt"]["param_groups"][0]["fused"] is True
    assert_same_state(a, b)


# -- D's batch: reals and fakes in two calls or one -----------------------------------------------
def test_joint_d_batch_differs_only_through_batch_statistics():
    from ganzoo.train.batches import discriminate

    torch.manual_seed(0)
    real, fake = torch.randn(8, 4) + 2, torch.randn(8, 4)
    plain = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    bn = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
    for D, same in ((plain, True), (bn, False)):
        call = lambda x, y: D(x)  # noqa: E731
        two = discriminate(call, real, None, fake, None, joint=False)
        one = discriminate(call, real, None, fake, None, joint=True)
        assert [t.shape for t in one] == [t.shape for t in two] == [(8, 1), (8, 1)]
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(one, two)) == same
    # With batch norm in D, separate batches are each normalised on their own: a D that only sees
    # the shift between reals and fakes gives them the same logits, a joint batch tells them apart.
    shift = torch.nn.Sequential(torch.nn.BatchNorm1d(4, affine=False), torch.nn.Linear(4, 1))
    r, f = discriminate(lambda x, y: shift(x), real, None, real - 2, None, joint=False)
    torch.testing.assert_close(r, f)
    r, f = discriminate(lambda x, y: shift(x), real, None, real - 2, None, joint=True)
    assert not torch.allclose(r, f)


def test_d_batch_is_a_config_field_whose_default_keeps_the_run_hash(tmp_path, registry):
    sep = resolve(tiny_raw(), registry)
    joint = resolve(tiny_raw(train={**tiny_raw()["train"], "d_batch": "joint", "unroll": 1}), registry)
    assert sep.train.d_batch == "separate"
    data = json.loads(sep.to_json())  # the config as written before d_batch existed
    del data["train"]["d_batch"]
    assert resolve(data, registry).hash() == sep.hash() != joint.hash()
    with pytest.raises(ConfigError):
        resolve(tiny_raw(train={**tiny_raw()["train"], "d_batch": "both"}), registry)
    res = train(joint, tmp_path / "joint", registry=registry, progress=False)  # with an unrolled G step
    assert res.status == "finished" and res.step == 6
