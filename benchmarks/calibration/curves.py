"""Calibration curves: metric against G step for run folders, and the convergence rule per budget.

A calibration run is an ordinary run of a suite's reference setting, usually trained longer than the
scale's budget (``ganzoo bench --suite S --scale cpu --only AXIS=LABEL ... --steps N``), so one run
shows what every shorter budget would have given: training is the same up to any step. For each
candidate budget B (every ``--every`` steps) it prints the suite's convergence rule (the best FID of
the last quarter, steps in (0.75 B, B], no more than ``--tolerance`` below the best FID before it)
and the IS at B; ``--plot`` draws FID and IS against the step for every run.

    python benchmarks/calibration/curves.py runs/cal/runs/* --plot results/calibration-selfmod.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_run(run_dir: Path) -> tuple[str, dict[int, dict[str, float]]]:
    cfg = json.loads((run_dir / "config.json").read_text())
    rows: dict[int, dict[str, float]] = {}
    path = run_dir / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        m = json.loads(line)
        for k, v in m["values"].items():
            if not k.endswith("_std"):
                rows.setdefault(int(m["step"]), {})[k] = float(v)
    return cfg["name"], dict(sorted(rows.items()))


def convergence(fid: list[tuple[int, float]], budget: int, tolerance: float) -> tuple[float, float, bool] | None:
    late = [v for s, v in fid if 0.75 * budget < s <= budget]
    early = [v for s, v in fid if s <= 0.75 * budget]
    if not late or not early:
        return None
    return min(early), min(late), min(late) >= (1 - tolerance) * min(early)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (each with config.json and metrics.jsonl)")
    ap.add_argument("--every", type=int, default=500, help="candidate budgets: every this many G steps")
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--plot", type=Path, default=None, help="write FID and IS against the step here")
    ap.add_argument("--budget", type=int, default=None, help="mark the scale's chosen budget on the plot")
    args = ap.parse_args()
    runs = [(d, *read_run(d)) for d in args.runs if (d / "config.json").exists()]
    for d, name, rows in runs:
        print(f"{name} ({d.name}), last step {max(rows, default=0)}")
        print("  step: " + " | ".join(f"{s} " + "/".join(f"{k} {v:.2f}" for k, v in r.items())
                                      for s, r in rows.items()))
        fid = [(s, r["fid"]) for s, r in rows.items() if "fid" in r]
        for budget in range(args.every, max(rows, default=0) + 1, args.every):
            c = convergence(fid, budget, args.tolerance)
            if c is None:
                continue
            is_at = rows.get(budget, {}).get("is")
            print(f"  budget {budget:>6}: best FID before {c[0]:7.2f}, last quarter {c[1]:7.2f} -> "
                  f"{'converged' if c[2] else 'still improving'}" + (f"; IS {is_at:.2f}" if is_at else ""))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = [k for k in ("fid", "is", "cacc", "swd_avg", "modes") if any(k in r for _, _, rows in runs
                                                                             for r in rows.values())]
        fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
        for ax, key in zip(axes[0], keys):
            for _, name, rows in runs:
                pts = [(s, r[key]) for s, r in rows.items() if key in r]
                if pts:
                    ax.plot(*zip(*pts), marker=".", label=name)
            if args.budget:
                ax.axvline(args.budget, color="grey", linestyle="--", linewidth=1)
            ax.set_xlabel("G step")
            ax.set_title(key)
            if key == "fid":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
