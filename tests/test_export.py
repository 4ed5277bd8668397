"""The committed per-run export of a store: a lossless round trip back into a store."""

from __future__ import annotations

import json

import pytest

from ganzoo.errors import GanzooError
from ganzoo.export import load_export, write_export
from ganzoo.store import Store


def make_store(path):
    s = Store(path)
    row = s.start_invocation("suite-x", "cpu", 1000.0, "processes")
    s.update_invocation(row, 3600.5, 2)
    s.add_reference("suite-x", "cpu", "fid2k@mnist-cnn/fid", "abc123", 0.49, {"generator": "real-train"})
    for i, (setting, status) in enumerate([({"arch": "resnet", "method": "bn"}, "finished"),
                                           ({"arch": "resnet", "method": "selfmod"}, "diverged")]):
        key = f"k{i}"
        s.add_run(key, "suite-x", "cpu", setting, i, json.dumps({"data": {"name": "mnist", "resolution": 32}}),
                  f"/nowhere/{key}")
        s.set_status(key, status, 500, 12.5 + i, None if status == "finished" else "loss is nan")
        s.record(key, [{"metric": "fid2k@mnist-cnn/fid", "protocol_hash": "h", "best": 20.0 + i,
                        "best_step": 250, "final": 21.0 + i}],
                 [(250, "fid2k@mnist-cnn/fid", 20.0 + i), (500, "fid2k@mnist-cnn/fid", 21.0 + i)])
    s.add_run("other", "suite-y", "cpu", {"a": "b"}, 0, "", "/x")  # another suite: not exported
    return s


def strip(rec):
    return {k: v for k, v in rec.items() if k != "run_dir"}


def test_export_round_trips_every_run_value_series_and_invocation(tmp_path):
    s = make_store(tmp_path / "store.sqlite")
    path = write_export(s, "suite-x", "cpu", tmp_path / "suite-x.runs.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 1 + 1 + 2  # suite, invocation, reference, two runs
    back, suite, scale = load_export(path)
    assert (suite, scale) == ("suite-x", "cpu")
    assert [strip(r) for r in back.records(suite, scale)] == [strip(r) for r in s.records(suite, scale)]
    for r in s.records(suite, scale):
        assert back.series(r["key"]) == s.series(r["key"])
    assert back.invocations(suite, scale) == s.invocations(suite, scale)
    assert back.references(suite, scale) == s.references(suite, scale)
    # Exporting the loaded store gives the same file: nothing is lost or reordered.
    again = write_export(back, suite, scale, tmp_path / "again.jsonl")
    assert again.read_text() == path.read_text()


def test_a_foreign_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"kind": "run"}\n')
    with pytest.raises(GanzooError, match="not a ganzoo results export"):
        load_export(bad)
    bad.write_text("not json\n")
    with pytest.raises(GanzooError, match="not a ganzoo results export"):
        load_export(bad)
