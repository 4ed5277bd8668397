"""The benchmark runner: grid expansion, the store and its tables, the smoke suite end to end,
resuming after SIGKILL, and the same numbers from every executor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganzoo.bench import LocalExecutor, ProcessExecutor, RayExecutor, run_suite
from ganzoo.report import load_records, write_suite_report
from ganzoo.store import Store
from ganzoo.suite import expand, find_suite, load_suite

ROOT = Path(__file__).resolve().parents[1]

TINY_SUITE = """
name = "tiny"
title = "tiny suite"
paper = "none"
[base]
data = { name = "digits", resolution = 16 }
model = { name = "sndcgan", params = { width = 0.0625, z_dim = 16 } }
loss = { name = "non-saturating" }
train = { g_steps = STEPS, batch_size = 16 }
log = { log_every = 10, sample_every = 0, checkpoint_every = 5, n_samples = 4 }
eval = { metrics = ["METRIC"], every = EVERY, extractor = "mnist-cnn", batch_size = 500 }
fast = { threads = 1 }
[[axes]]
name = "loss"
values = [{ label = "ns" }, { label = "hinge", set = { "loss.name" = "hinge" } }]
[[axes]]
name = "method"
values = [{ label = "bn" }, { label = "selfmod", set = { "model.params.g_norm" = "selfmod" } }]
[scales.smoke]
seeds = [0, 1]
[[tables]]
kind = "best-of"
title = "best"
metric = "fid"
rows = ["loss"]
[[tables]]
kind = "paired"
title = "paired"
metric = "fid"
"""


def tiny_suite(tmp_path: Path, steps: int = 20, every: int = 10, metric: str = "fid100") -> Path:
    """The 8-run tiny suite; ``every``: G steps between evaluations of ``metric`` (``fid100``: 100
    images, about as long as 10 steps; ``fid2k``: more than ten times longer)."""
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE.replace("STEPS", str(steps)).replace("EVERY", str(every)).replace("METRIC", metric))
    return path


def values_by_key(store_path: Path, suite: str = "tiny", scale: str = "smoke") -> dict:
    store = Store(store_path)
    out = {r["key"]: (r["status"], r["values"]) for r in store.records(suite, scale)}
    store.close()
    return out


def test_selfmod_grid_has_36_settings_per_dataset(registry):
    suite = find_suite("selfmod-robustness", registry)
    runs = expand(suite, "smoke", registry)
    assert len(runs) == 72 and len({r.key for r in runs}) == 72
    settings = {tuple(sorted((k, v) for k, v in r.setting.items() if k != "method")) for r in runs}
    assert len(settings) == 36
    for r in runs:
        s, cfg = r.setting, r.config
        assert cfg.model.name == s["arch"]
        assert cfg.loss.name == {"ns": "non-saturating", "hinge": "hinge"}[s["loss"]]
        assert cfg.model.params["g_norm"] == s["method"]
        if s["penalty"] == "sn":
            assert cfg.model.params["spectral_norm"] and not cfg.regularizers and s["penalty.group"] == "SN"
        else:
            assert not cfg.model.params["spectral_norm"] and s["penalty.group"] == "GP"
            assert cfg.regularizers[0].name == "wgan-gp"
            assert cfg.regularizers[0].params["weight"] == {"gp1": 1.0, "gp10": 10.0}[s["penalty"]]
        b1, b2, nd = s["opt"].split("-")
        assert (cfg.g_optim.beta1, cfg.d_optim.beta2, cfg.train.n_disc) == (float(b1), float(b2), int(nd))
    assert len(expand(suite, "cpu", registry)) == 72 * len(suite.scales["cpu"].seeds)
    paper = expand(suite, "paper", registry)
    assert len(paper) == 360 and paper[0].config.train.g_steps == 100_000
    assert paper[0].config.train.batch_size == 64 and paper[0].config.g_optim.lr == 2e-4


def test_tables_from_a_hand_made_store(tmp_path, registry):
    suite = load_suite(tiny_suite(tmp_path))
    store = Store(tmp_path / "store.sqlite")
    fid = {("ns", "bn"): [10.0, 14.0, 12.0], ("ns", "selfmod"): [9.0, 8.0, 30.0],
           ("hinge", "bn"): [20.0, 22.0, 21.0], ("hinge", "selfmod"): [25.0, 24.0, 23.0]}
    for (loss, method), values in fid.items():
        for seed, v in enumerate(values):
            key = f"{loss}-{method}-{seed}"
            store.add_run(key, "tiny", "smoke", {"loss": loss, "method": method}, seed, "{}", "x")
            store.record(key, [{"metric": "fid2k@mnist-cnn/fid", "protocol_hash": "abc", "best": v,
                                "best_step": 10, "final": v + 1}], [(10, "fid2k@mnist-cnn/fid", v)])
            store.set_status(key, "finished", 10, 1.0)
    records = load_records(store, "tiny", "smoke")
    text = write_suite_report(suite, "smoke", records, tmp_path / "tiny.md", registry=registry).read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ns") or line.startswith("| hinge")}
    # Medians over seeds: ns bn 12, ns selfmod 9, hinge bn 21, hinge selfmod 24.
    assert rows["ns"][0].startswith("12.00") and rows["ns"][1].startswith("9.00")
    assert rows["hinge"][0].startswith("21.00") and rows["hinge"][1].startswith("24.00")
    assert "| 1 " in text.split("### paired")[1]  # one win (ns) and one loss (hinge)
    assert "metric protocol `fid2k@mnist-cnn/fid` (hash `abc`)" in text


@pytest.mark.slow
def test_smoke_suite_end_to_end(tmp_path, registry):
    suite = find_suite("selfmod-robustness", registry)
    summary = run_suite(suite, "smoke", tmp_path / "runs", registry, LocalExecutor(registry), tmp_path / "results",
                        progress=False)
    assert summary.total == 72 and summary.finished + summary.diverged == 72 and summary.failed == 0
    text = (tmp_path / "results" / "selfmod-robustness-smoke.md").read_text()
    for title in ("Table 2", "Table 3", "Paired comparison", "Appendix A.1"):
        assert title in text
    assert "paper (cifar10)" in text and "Scale:** `smoke`" in text and "mnist-cnn" in text
    for part in ("arch=resnet", "arch=sndcgan", "penalty.group=SN", "penalty.group=GP", "loss=ns"):
        assert f"| {part} " in text, part  # the paired count broken down by architecture, regime and loss
    assert (tmp_path / "results" / "selfmod-robustness-smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A second invocation skips everything.
    store = Store(tmp_path / "runs" / "store.sqlite")
    first = store.invocations("selfmod-robustness", "smoke")
    store.close()
    assert [ran for *_, ran in first] == [72]
    again = run_suite(suite, "smoke", tmp_path / "runs", registry, LocalExecutor(registry), None, progress=False)
    assert again.skipped == 72 and again.finished == 0
    store = Store(tmp_path / "runs" / "store.sqlite")
    assert store.invocations("selfmod-robustness", "smoke") == first  # one that trained nothing is not kept
    store.close()


@pytest.mark.slow
def test_sigkill_mid_suite_loses_and_redoes_nothing(tmp_path):
    suite_file = tiny_suite(tmp_path, steps=60, every=30)
    cmd = [sys.executable, "-m", "ganzoo.cli", "bench", "--suite", str(suite_file), "--scale", "smoke",
           "--results", str(tmp_path / "results"), "--quiet"]
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    store_path, deadline = out / "store.sqlite", time.time() + 240
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if store_path.exists():
            status = [s for s, _ in values_by_key(store_path).values()]
            running = [p for p in (out / "runs").glob("*/checkpoint.pt")]
            if status.count("finished") >= 2 and "running" in status and len(running) > status.count("finished"):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
        time.sleep(0.1)
    proc.wait()
    assert killed, "the suite ended before it could be killed mid-run"
    before = values_by_key(store_path)
    finished = [k for k, (s, _) in before.items() if s == "finished"]
    stamps = {k: (out / "runs" / k / "metrics.jsonl").stat().st_mtime_ns for k in finished}

    res = subprocess.run(cmd + ["--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert f"{len(finished)} already done" in res.stdout
    for k in finished:  # nothing finished was redone
        assert (out / "runs" / k / "metrics.jsonl").stat().st_mtime_ns == stamps[k]

    clean = subprocess.run(cmd + ["--out", str(tmp_path / "clean"), "--results", str(tmp_path / "r2")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr
    assert values_by_key(store_path) == values_by_key(tmp_path / "clean" / "store.sqlite")

    def tables(p: Path) -> list[str]:
        return [ln for ln in p.read_text().splitlines() if ln.startswith("|")]

    assert tables(tmp_path / "results" / "tiny-smoke.md") == tables(tmp_path / "r2" / "tiny-smoke.md")


@pytest.mark.slow
def test_executors_give_the_same_numbers(tmp_path, registry):
    suite = load_suite(tiny_suite(tmp_path, steps=10))
    local = run_suite(suite, "smoke", tmp_path / "local", registry, LocalExecutor(registry), None, progress=False)
    assert local.finished == 8
    pool = run_suite(suite, "smoke", tmp_path / "pool", registry, ProcessExecutor(2), None, progress=False)
    assert pool.finished == 8
    reference = values_by_key(tmp_path / "local" / "store.sqlite")
    assert values_by_key(tmp_path / "pool" / "store.sqlite") == reference
    pytest.importorskip("ray")
    ray_ex = RayExecutor(None, 2)
    try:
        run_suite(suite, "smoke", tmp_path / "ray", registry, ray_ex, None, progress=False)
    finally:
        ray_ex.ray.shutdown()
    assert values_by_key(tmp_path / "ray" / "store.sqlite") == reference


@pytest.mark.parametrize("name, runs", [("selfmod-where", 8), ("selfmod-conditional", 6)])
def test_other_selfmod_suites_expand(registry, name, runs):
    suite = find_suite(name, registry)
    smoke = expand(suite, "smoke", registry)
    assert len(smoke) == runs
    if name == "selfmod-conditional":
        by = {(r.setting["conditioning"], r.setting["method"]): r.config for r in smoke}
        assert by[("p-cgan", "selfmod")].model.params["g_norm"] == "cselfmod"
        assert by[("p-cgan", "selfmod")].model.params["projection"] is True
        assert by[("g-cond", "baseline")].model.params["g_norm"] == "cbn"
        assert by[("g-cond", "baseline")].model.params["projection"] is False
        assert by[("unconditional", "selfmod")].model.params["g_norm"] == "selfmod"
    else:
        assert {r.config.model.params["g_norm"] for r in smoke} == {"bn", "selfmod", "selfmod-first",
                                                                    "selfmod-last"}


def test_only_runs_a_subset_and_rejects_unknown_axes(tmp_path, registry):
    suite = load_suite(tiny_suite(tmp_path, steps=4))
    runs = expand(suite, "smoke", registry, only={"method": ["selfmod"], "loss": ["ns", "hinge"]})
    assert {(r.setting["loss"], r.setting["method"]) for r in runs} == {("ns", "selfmod"), ("hinge", "selfmod")}
    assert len(runs) == 4  # two seeds each
    from ganzoo.errors import ConfigError

    with pytest.raises(ConfigError, match="no axis"):
        expand(suite, "smoke", registry, only={"mthod": ["bn"]})
    with pytest.raises(ConfigError, match="no value"):
        expand(suite, "smoke", registry, only={"method": ["sm"]})


def test_from_export_continues_a_suite_without_retraining(tmp_path, registry):
    """A suite run half on one machine continues on another from the committed export alone: its
    finished runs are not trained again, the rest are, and the report equals a single machine's."""
    from ganzoo.export import export_path, read_export

    suite = load_suite(tiny_suite(tmp_path, steps=4))
    first = run_suite(suite, "smoke", tmp_path / "a", registry, LocalExecutor(registry), tmp_path / "ra",
                      progress=False, only={"method": ["bn"]})
    assert first.finished + first.diverged == 4
    head = (tmp_path / "ra" / "tiny-smoke.md").read_text()
    assert "4 of the 8 this scale plans are done" in head and "**Partial results:**" in head
    exported = export_path(tmp_path / "ra", "tiny", "smoke")
    # Elsewhere, with no runs/ folder: only the self-modulated half trains.
    second = run_suite(suite, "smoke", tmp_path / "b", registry, LocalExecutor(registry), tmp_path / "rb",
                       progress=False, from_export=exported)
    assert (second.imported, second.unmatched) == (4, 0)
    assert second.skipped == 4 and second.finished + second.diverged == 4
    whole = run_suite(suite, "smoke", tmp_path / "c", registry, LocalExecutor(registry), tmp_path / "rc",
                      progress=False)
    assert values_by_key(tmp_path / "b" / "store.sqlite") == values_by_key(tmp_path / "c" / "store.sqlite")
    assert whole.finished + whole.diverged == 8
    assert "Partial" not in (tmp_path / "rb" / "tiny-smoke.md").read_text()
    # A bench of one part (--only) on a fresh store takes the whole export, and the export and
    # tables it writes back still hold every run, not only its part's.
    part = run_suite(suite, "smoke", tmp_path / "e", registry, LocalExecutor(registry), tmp_path / "re",
                     progress=False, only={"method": ["bn"]}, from_export=export_path(tmp_path / "rb", "tiny", "smoke"))
    assert (part.imported, part.unmatched, part.finished) == (8, 0, 0)
    _, _, lines = read_export(export_path(tmp_path / "re", "tiny", "smoke"))
    assert sum(x["kind"] == "run" and x["status"] in ("finished", "diverged") for x in lines) == 8
    assert "Partial" not in (tmp_path / "re" / "tiny-smoke.md").read_text()
    # Importing again changes nothing; an export of other configs is counted, not taken.
    again = run_suite(suite, "smoke", tmp_path / "b", registry, LocalExecutor(registry), None,
                      progress=False, from_export=exported)
    assert (again.imported, again.skipped, again.finished) == (0, 8, 0)
    (tmp_path / "x").mkdir()
    other = load_suite(tiny_suite(tmp_path / "x", steps=5))
    fresh = run_suite(other, "smoke", tmp_path / "d", registry, LocalExecutor(registry), None,
                      progress=False, only={"method": ["bn"], "loss": ["ns"]}, from_export=exported)
    assert (fresh.imported, fresh.unmatched) == (0, 4)


def test_from_export_takes_the_same_configs_from_another_suite(tmp_path, registry):
    """A run is its config: another suite that trains the same configs takes them from this
    suite's export under its own setting labels; the store marks them done for both suites."""
    from ganzoo.export import export_path

    suite = load_suite(tiny_suite(tmp_path, steps=4))
    run_suite(suite, "smoke", tmp_path / "a", registry, LocalExecutor(registry), tmp_path / "ra",
              progress=False, only={"method": ["bn"]})
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    text = tiny_suite(tmp_path, steps=4).read_text().replace('name = "tiny"', 'name = "tinyb"')
    text = text.replace('''[[axes]]
name = "loss"
values = [{ label = "ns" }, { label = "hinge", set = { "loss.name" = "hinge" } }]
''', "").replace('rows = ["loss"]', 'rows = ["method"]')
    (other_dir / "tinyb.toml").write_text(text)
    other = load_suite(other_dir / "tinyb.toml")
    got = run_suite(other, "smoke", tmp_path / "b", registry, LocalExecutor(registry), None, progress=False,
                    from_export=[export_path(tmp_path / "ra", "tiny", "smoke")])
    assert (got.imported, got.unmatched) == (2, 2)  # ns-bn seeds 0 and 1; the hinge runs are not tinyb's
    assert got.skipped == 2 and got.finished + got.diverged == 2  # only the self-modulated runs train
    recs = Store(tmp_path / "b" / "store.sqlite").records("tinyb", "smoke")
    assert sorted((r["setting"]["method"], r["seed"], r["status"] in ("finished", "diverged")) for r in recs) == [
        ("bn", 0, True), ("bn", 1, True), ("selfmod", 0, True), ("selfmod", 1, True)]
    assert all("loss" not in r["setting"] for r in recs)


def test_a_run_listed_by_two_suites_in_one_store_is_done_for_both(tmp_path):
    s = Store(tmp_path / "store.sqlite")
    s.add_run("k", "A", "cpu", {"a": "1"}, 0, "{}", "")
    s.set_status("k", "finished", 10, 1.0, None)
    s.add_runs([("k", "B", "cpu", {"b": "1"}, 0, "{}", ""), ("j", "B", "cpu", {"b": "2"}, 0, "{}", "")])
    assert [(r["key"], r["status"], r["step"]) for r in s.records("B", "cpu")] == [("k", "finished", 10),
                                                                                   ("j", "pending", None)]


def test_dry_run_says_what_a_bench_would_do_with_each_run_and_writes_nothing(tmp_path, registry):
    from ganzoo.bench import plan_runs, plan_seconds
    from ganzoo.export import write_export

    suite_file = tiny_suite(tmp_path, steps=4)
    runs = expand(load_suite(suite_file), "smoke", registry)
    assert len(runs) == 8
    k = [r.key for r in runs]
    # Another machine's export of a suite that trains two of these configs (one finished, one failed).
    other = Store(tmp_path / "other.sqlite")
    for key, status in ((k[0], "finished"), (k[1], "failed")):
        other.add_run(key, "elsewhere", "cpu", {"x": key}, 0, "{}", "/nowhere")
        other.set_status(key, status, 4, 1200.0, None)
    export = write_export(other, "elsewhere", "cpu", tmp_path / "elsewhere.runs.jsonl")
    other.close()
    out = tmp_path / "out"
    store = Store(out / "store.sqlite")  # this bench's store: one done, one interrupted, one failed, one running
    store.add_runs([(r.key, "tiny", "smoke", r.setting, r.seed, r.config.to_json(), str(out / r.key)) for r in runs])
    for key, status, step in ((k[2], "finished", 4), (k[3], "interrupted", 2), (k[4], "failed", 0),
                              (k[5], "running", 3), (k[0], "pending", 0)):
        store.set_status(key, status, step, 600.0 if status == "finished" else 1.0, None)
    store.close()
    before = (out / "store.sqlite").read_bytes()
    plan = plan_runs(runs, out / "store.sqlite", [export])
    assert [str(plan[key]) for key in k] == [f"from {export}", "to train", "done", "to resume (step 2)",
                                             "to train again (failed)", "running (step 3)", "to train", "to train"]
    # Time left: k1 as its setting's export run (1200 s), k3 half of its setting's 600 s, k5 a
    # quarter and k4, k6, k7 all of the longest finished run (1200 s): 5400 s.
    suite = load_suite(suite_file)
    assert plan_seconds(runs, plan, suite, "smoke", out / "store.sqlite", [export]) == (
        5400.0, {"setting": 2, "longest": 4}, 1200.0)
    assert plan_seconds(runs, plan_runs(runs, tmp_path / "none.sqlite"), suite, "smoke",
                        tmp_path / "none.sqlite") == (0.0, {"none": 8}, None)  # nothing to go by
    (out / "runs" / k[5]).mkdir(parents=True)  # a running run's live step is in its status file
    (out / "runs" / k[5] / "status.json").write_text('{"state": "running", "step": 7}')
    assert str(plan_runs(runs, out / "store.sqlite", [])[k[5]]) == "running (step 7)"
    assert (out / "store.sqlite").read_bytes() == before
    assert {str(p) for p in plan_runs(runs, tmp_path / "none" / "store.sqlite", []).values()} == {"to train"}
    assert not (tmp_path / "none").exists()  # a dry run creates no store

    res = subprocess.run([sys.executable, "-m", "ganzoo.cli", "bench", "--suite", str(suite_file), "--scale",
                          "smoke", "--out", str(out), "--from-export", str(export), "--dry-run"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[-1] == (f"8 runs: 1 done, 1 from {export}, 1 running, 1 to resume, "
                                           "3 to train, 1 to train again; about 1.4 h of run time left "
                                           "(4 run(s) counted at the longest finished run, 20 min, as none of "
                                           "their setting has finished yet)")
    assert (out / "store.sqlite").read_bytes() == before


def test_finish_by_starts_only_runs_expected_to_end_in_time(tmp_path, registry):
    from ganzoo.bench import expected_seconds

    suite_file = tiny_suite(tmp_path, steps=4)
    suite = load_suite(suite_file)
    runs = expand(suite, "smoke", registry)
    out = tmp_path / "out"
    store = Store(out / "store.sqlite")
    store.add_runs([(r.key, "tiny", "smoke", r.setting, r.seed, r.config.to_json(), str(out / "runs" / r.key))
                    for r in runs])
    assert expected_seconds(runs, store.records("tiny", "smoke")) == {r.key: None for r in runs}  # nothing known
    # Seed 0 of the first setting took two hours; seed 0 of the second 10 s; the second's seed 1
    # stopped half-way.
    store.set_status(runs[0].key, "finished", 4, 7200.0, None)
    store.set_status(runs[2].key, "finished", 4, 10.0, None)
    store.set_status(runs[3].key, "interrupted", 2, 5.0, None)
    est = expected_seconds(runs, store.records("tiny", "smoke"))
    assert runs[0].setting == runs[1].setting and runs[2].setting == runs[3].setting
    assert est[runs[1].key] == 7200.0  # its setting's mean
    assert est[runs[3].key] == 5.0  # half of its setting's mean is left
    assert {est[r.key] for r in runs[4:]} == {7200.0}  # a new setting: the longest finished run
    # A bench of some settings only (--only) goes by its own runs' longest, not the suite's.
    assert expected_seconds(runs[2:], store.records("tiny", "smoke"))[runs[4].key] == 10.0
    # A run of the same setting at another length (the scale's old step count, kept in the store)
    # counts by its time per G step: 3 s for 1 step of the 4 these runs take.
    old = [{"key": "old", "setting": runs[4].setting, "status": "finished", "step": 1, "seconds": 3.0}]
    assert expected_seconds(runs, store.records("tiny", "smoke") + old)[runs[5].key] == 12.0
    store.close()

    # An hour left: only the half-done run fits; every other run is left for later, and the
    # (partial) tables and the real-data reference are written all the same.
    results = tmp_path / "results"
    summary = run_suite(suite, "smoke", out, registry, LocalExecutor(registry), results, progress=False,
                        finish_by=time.time() + 3600)
    assert (summary.finished, summary.late, summary.interrupted) == (1, 5, 0)
    store = Store(out / "store.sqlite")
    assert store.status(runs[3].key) == "finished" and store.status(runs[1].key) == "pending"
    assert store.references("tiny", "smoke")
    store.close()
    assert summary.report is not None and summary.report.exists()

    res = subprocess.run([sys.executable, "-m", "ganzoo.cli", "bench", "--suite", str(suite_file), "--scale",
                          "smoke", "--out", str(out), "--results", str(results), "--quiet", "--finish-by", "30m"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "5 run(s) left for a later bench: not expected to end by" in res.stdout


def _jobs(tmp_path, registry, n: int, **train) -> list[dict]:
    from conftest import tiny_raw
    from ganzoo.config import resolve

    raw = tiny_raw()
    raw["train"] = {**raw["train"], "g_steps": 1, **train}
    cfg = resolve(raw, registry).to_json()
    return [{"key": f"k{i}", "config": cfg, "run_dir": str(tmp_path / f"run{i}"), "lock": str(tmp_path / f"lock{i}"),
             "threads": 1, "name": "tiny", "sweep": None} for i in range(n)]


def test_workers_are_spread_over_the_gpus(tmp_path, registry, monkeypatch):
    """Processes: each worker gets the next GPU as CUDA_VISIBLE_DEVICES; the parent's list is read."""
    from multiprocessing import get_context

    from ganzoo.bench import assign_gpu, visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # restored after the test (assign_gpu sets it)
    counter = get_context("spawn").Value("i", 0)
    assert [assign_gpu(["5", "7"], counter) for _ in range(3)] == ["5", "7", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
    jobs, seen = _jobs(tmp_path, registry, 3), []
    ProcessExecutor(2, gpus=["5", "7"]).run(lambda: jobs.pop() if jobs else None, seen.append)
    assert [o["status"] for o in seen] == ["finished"] * 3
    assert {o["gpus"] for o in seen} <= {"5", "7"}  # every run in a worker bound to one of them


def test_ray_runs_reserve_gpus(tmp_path, registry):
    """A CUDA run reserves 1 GPU by default (or --gpus-per-run), and Ray binds it to the GPUs it got."""
    ray = pytest.importorskip("ray")
    cpu_job, = _jobs(tmp_path / "cpu", registry, 1)
    cuda_job, = _jobs(tmp_path / "cuda", registry, 1, device="cuda")
    assert RayExecutor(None, 1).gpus_for(cpu_job) == 0 and RayExecutor(None, 1).gpus_for(cuda_job) == 1
    assert RayExecutor(None, 1, gpus_per_run=0.25).gpus_for(cuda_job) == 0.25
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)  # GPUs Ray only counts
    try:
        jobs, seen = _jobs(tmp_path / "ray", registry, 2), []
        RayExecutor(None, 2, gpus_per_run=1).run(lambda: jobs.pop() if jobs else None, seen.append)
    finally:
        ray.shutdown()
    assert [o["status"] for o in seen] == ["finished"] * 2
    assert {o["gpus"] for o in seen} <= {"0", "1"} and all(o["gpus"] for o in seen)
