"""TensorBoard logging of a run (``log.tensorboard = true``; needs ``pip install 'ganzoo[tensorboard]'``).

The trainer writes ``log.jsonl`` (losses, seconds per step, kimg), ``metrics.jsonl`` (every metric
value at each evaluation), ``sv.jsonl`` (the singular-value monitor) and ``samples/*.png``; with
TensorBoard on, every record it appends to those files is also written, unchanged in value, as
TensorBoard events in the run folder itself (``tensorboard --logdir runs/NAME``):

* ``loss/d``, ``loss/g``, ``progress/kimg``, ``perf/sec_per_step``   (from log.jsonl lines)
* ``metrics/<protocol>/<value>``, e.g. ``metrics/fid2k@mnist-cnn/fid``   (from metrics.jsonl)
* ``sv/G/<layer>``, ``sv/D/<layer>``   (from sv.jsonl)
* image ``samples``   (each sample grid written)

All at the G step of the record. On resume the writer purges events at or after the resumed step,
so a step is never shown twice. The JSON-lines files stay the source of truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganzoo.errors import GanzooError


class TensorBoardLog:
    """A SummaryWriter in the run directory that mirrors the run's JSON-lines records."""

    def __init__(self, out: str | Path, purge_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GanzooError("log.tensorboard = true needs TensorBoard: pip install 'ganzoo[tensorboard]' "
                              "(or set log.tensorboard = false)") from None
        self.writer = SummaryWriter(log_dir=str(out), purge_step=purge_step or None)
        self._images: set[tuple[str, int]] = set()  # the end-of-run grid can repeat the last periodic one

    def record(self, file: str, rec: dict[str, Any]) -> None:
        """Mirror one record appended to ``file`` (log.jsonl, metrics.jsonl or sv.jsonl)."""
        step = rec.get("step")
        if step is None:
            return
        w = self.writer
        if file == "log.jsonl" and "event" not in rec:
            for key, tag in (("d_loss", "loss/d"), ("g_loss", "loss/g"), ("kimg", "progress/kimg"),
                             ("sec_per_step", "perf/sec_per_step")):
                if rec.get(key) is not None:
                    w.add_scalar(tag, float(rec[key]), step)
        elif file == "metrics.jsonl":
            for key, value in (rec.get("values") or {}).items():
                if value is not None:
                    w.add_scalar(f"metrics/{rec['name']}/{key}", float(value), step)
        elif file == "sv.jsonl":
            for net in ("G", "D"):
                for layer, value in (rec.get(net) or {}).items():
                    w.add_scalar(f"sv/{net}/{layer}", float(value[0] if isinstance(value, list) else value), step)

    def image(self, png: str | Path, step: int, tag: str = "samples") -> None:
        """A sample grid (the PNG the trainer just wrote) as a TensorBoard image."""
        import numpy as np
        from PIL import Image

        if (tag, step) in self._images:
            return
        self._images.add((tag, step))
        self.writer.add_image(tag, np.asarray(Image.open(png).convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
