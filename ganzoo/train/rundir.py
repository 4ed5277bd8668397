"""A run directory and every file in it, and the checks made before training writes there.

``config.json`` (the resolved config), ``log.jsonl`` (losses, events), ``metrics.jsonl`` (every
evaluation), ``sv.jsonl`` (singular values), ``status.json`` (state, step and the best metric
values), ``checkpoint.pt`` (the latest :class:`~ganzoo.train.state.TrainState`), ``samples/*.png``
and numbered snapshots under ``checkpoints/``. Only rank 0 of a multi-process run writes.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ganzoo import checkpoint
from ganzoo.config import RunConfig, resolve
from ganzoo.errors import GanzooError

# Fields a resumed run may change: names, logging, and the length of training.
MAY_CHANGE = ("log.", "name:", "train.g_steps:")


class RunDir:
    """The files of one run directory."""

    def __init__(self, out: str | Path, write: bool = True) -> None:
        self.out = Path(out)
        self.write = write  # False on ranks > 0 of a multi-process run: only rank 0 writes
        self.config = self.out / "config.json"
        self.log = self.out / "log.jsonl"
        self.metrics = self.out / "metrics.jsonl"
        self.sv = self.out / "sv.jsonl"
        self.status = self.out / "status.json"
        self.checkpoint = self.out / checkpoint.LATEST
        self.samples = self.out / "samples"
        self.snapshots = self.out / "checkpoints"
        self.tb = None  # a ganzoo.tblog.TensorBoardLog when log.tensorboard is on (rank 0 only)

    # -- opening -----------------------------------------------------------------------------
    def holds_run(self) -> bool:
        return self.checkpoint.exists() or self.config.exists()

    def open(self, cfg: RunConfig, resume: bool, registry: Any) -> dict[str, Any] | None:
        """Check the directory for this run; return the checkpoint to resume from (None: fresh start).

        Never overwrites a run unless asked to resume it; refuses ``resume`` where there is no run,
        and a resume whose config differs from the run's in anything but names, logging and g_steps.
        Touches no file: :meth:`prepare` writes, once every rank has checked.
        """
        if not self.holds_run():
            if resume:
                raise GanzooError(f"--resume: {self.out} holds no run (no {checkpoint.LATEST} or "
                                  "config.json); drop --resume to start one there")
            return None
        if not resume:
            raise GanzooError(f"{self.out} already holds a run; pass --resume to continue it or choose another --out")
        if not self.checkpoint.exists():  # stopped before its first checkpoint: start it again
            return None
        state = checkpoint.load(self.checkpoint)
        old = resolve(checkpoint.config_of(state), registry)
        diffs = [d for d in config_diff(json.loads(old.to_json()), json.loads(cfg.to_json()))
                 if not d.startswith(MAY_CHANGE)]
        if diffs:
            raise GanzooError(f"--resume: the config differs from the run's: {'; '.join(diffs)}")
        if self.write and old.train.g_steps != cfg.train.g_steps:
            verb = "extending" if cfg.train.g_steps > old.train.g_steps else "shortening"
            print(f"{verb} from {old.train.g_steps} to {cfg.train.g_steps} G steps", file=sys.stderr)
        return state

    def prepare(self, cfg: RunConfig) -> None:
        """Create the directory, remove temporary files of killed atomic writes, write config.json."""
        if not self.write:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.samples, self.snapshots):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                tmp.unlink(missing_ok=True)  # ".checkpoint.pt.x8k2.tmp": a write that never finished
        checkpoint.atomic_write_text(self.config, cfg.to_json() + "\n")

    def start_fresh(self, cfg: RunConfig) -> None:
        """Forget the records of an earlier attempt that never reached a checkpoint."""
        if not self.write:
            return
        for path in (self.log, self.metrics, self.sv):
            path.unlink(missing_ok=True)
        self.append_log({"event": "start", "step": 0, "time": time.time(), "config_hash": cfg.hash()})

    def truncate(self, step: int) -> None:
        """Drop log and metric lines written after the checkpoint we resume from (no step twice).

        A ``finished`` line goes too: a run killed after logging its end but before the bench
        recorded it resumes from its final checkpoint and logs its end again, once. So does a
        line cut short by a kill in the middle of its write.
        """
        if not self.write:
            return
        for path in (self.log, self.metrics, self.sv):
            if not path.exists():
                continue
            keep = [ln for ln in path.read_text(encoding="utf-8").splitlines() if _kept(ln, step)]
            checkpoint.atomic_write_text(path, "".join(k + "\n" for k in keep))
        self.append_log({"event": "resume", "step": step, "time": time.time()})

    # -- writing -----------------------------------------------------------------------------
    def write_status(self, state: str, step: int, cfg: RunConfig, images_shown: int, **extra: Any) -> None:
        if not self.write:
            return
        doc = {"state": state, "step": step, "g_steps": cfg.train.g_steps,
               "images_shown": images_shown, "updated": time.time(), **extra}
        checkpoint.atomic_write_text(self.status, json.dumps(doc, indent=2) + "\n")

    def append(self, path: Path, record: dict[str, Any]) -> None:
        if not self.write:
            return
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:  # log.jsonl, metrics.jsonl and sv.jsonl mirrored as TensorBoard events
            self.tb.record(path.name, record)

    def open_tensorboard(self, cfg: RunConfig, resumed_at: int | None) -> None:
        """Events beside log.jsonl (``log.tensorboard``); a resume purges the steps after its checkpoint."""
        if cfg.log.tensorboard and self.write:
            from ganzoo.tblog import TensorBoardLog

            self.tb = TensorBoardLog(self.out, purge_step=resumed_at)

    def close_tensorboard(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    def append_log(self, record: dict[str, Any]) -> None:
        self.append(self.log, record)

    def save_checkpoint(self, state: dict[str, Any], step: int, keep_every: int) -> None:
        """Write ``checkpoint.pt`` atomically; keep a numbered copy every ``keep_every`` steps."""
        if not self.write:
            return
        checkpoint.save(state, self.checkpoint)
        if keep_every and step % keep_every == 0:
            self.snapshots.mkdir(exist_ok=True)
            shutil.copyfile(self.checkpoint, self.snapshots / f"step-{step:07d}.pt")

    def records(self, path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def config_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    """``path: old -> new`` for every leaf that differs between two config dicts."""
    diffs = []
    for key in sorted(set(a) | set(b)):
        path = f"{prefix}{key}"
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += config_diff(va, vb, path + ".")
        elif va != vb:
            diffs.append(f"{path}: {va!r} -> {vb!r}")
    return diffs


def _kept(line: str, step: int) -> bool:
    """Whether a resume from ``step`` keeps this log line (see :meth:`RunDir.truncate`)."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError:  # cut short by a kill
        return False
    return rec.get("step", 0) <= step and rec.get("event") != "finished"
