"""``log.tensorboard = true``: losses, metrics, singular values and sample grids as TensorBoard events,
read back with TensorBoard's own event reader, values equal to the JSON-lines records."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_raw
from ganzoo.config import resolve
from ganzoo.train import train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="pip install 'ganzoo[tensorboard]'")


def test_tensorboard_events_mirror_the_run_logs(tmp_path, registry):
    raw = tiny_raw(log={"log_every": 2, "sample_every": 3, "checkpoint_every": 3, "n_samples": 4,
                        "sv_every": 2, "tensorboard": True},
                   eval={"metrics": ["swd2k"], "every": 3}, data={"name": "digits", "resolution": 16})
    run = tmp_path / "run"
    res = train(resolve(raw, registry), run, registry=registry, progress=False)
    assert res.status == "finished"
    assert list(run.glob("events.out.tfevents.*")), sorted(p.name for p in run.iterdir())

    acc = event_accumulator.EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = lambda tag: [(e.step, e.value) for e in acc.Scalars(tag)]  # noqa: E731

    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    losses = [(r["step"], r["d_loss"]) for r in log if "d_loss" in r]
    assert [s for s, _ in scalars("loss/d")] == [s for s, _ in losses] == [2, 4, 6]
    assert [v for _, v in scalars("loss/d")] == pytest.approx([v for _, v in losses], rel=1e-6)

    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    swd = [(m["step"], m["values"]["swd_avg"]) for m in metrics]
    got = scalars("metrics/swd2k/swd_avg")
    assert [s for s, _ in got] == [s for s, _ in swd] == [3, 6]
    assert [v for _, v in got] == pytest.approx([v for _, v in swd], rel=1e-6)

    sv = [json.loads(x) for x in (run / "sv.jsonl").read_text().splitlines()]
    layer = next(iter(sv[0]["G"]))
    got = scalars(f"sv/G/{layer}")
    assert [s for s, _ in got] == [r["step"] for r in sv] == [2, 4, 6]
    assert [v for _, v in got] == pytest.approx([r["G"][layer] for r in sv], rel=1e-6)

    assert "samples" in tags["images"]
    images = acc.Images("samples")
    assert [e.step for e in images] == [3, 6]  # one per grid written (sample_every = 3, and the end)
    assert images[-1].encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_tensorboard_no_event_files(tmp_path, registry):
    run = tmp_path / "run"
    train(resolve(tiny_raw(), registry), run, registry=registry, progress=False)
    assert not list(run.glob("events.out.tfevents.*"))
