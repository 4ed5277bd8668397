"""Feature-extraction throughput of the metric feature extractors, in images per second.

Measures, in one process, on random uint8 images:

* ``FIDInceptionV3`` (``ganzoo_metrics.inception``) with random weights, batch 50, 32x32 RGB inputs
  that the network resizes to 299x299 itself, in ``fp32``, ``fp32 channels_last`` and
  ``channels_last + bf16`` (CPU autocast);
* the digits CNN of ``ganzoo_metrics.classifier`` (``load_digits_classifier()``; random weights
  if its weight file is missing), 1-channel 32x32 inputs, in the same modes, when that module
  exists.

It also compares the Inception ``pool`` features of fp32 and bf16 on the same ``--n`` images: max
and mean absolute difference, relative to the features' scale, and ``|mu_fp32 - mu_bf16|^2`` (the
mean term of FID between the two feature sets) as a hint of whether bf16 could move FID. Random
weights are He-initialised, so activations have a realistic scale, but real weights may differ.
Each mode is timed after one warm-up batch; rounds alternate modes and report the median. Usage::

    python benchmarks/perf/features.py                     # 200 Inception images, 5000 digits
    python benchmarks/perf/features.py --n 100 --rounds 1 --json features.json
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("GANZOO_DISABLE_PLUGIN_AUTOLOAD", "1")

import torch  # noqa: E402

from ganzoo_metrics import inception  # noqa: E402

MODES = ("fp32", "fp32 channels_last", "channels_last + bf16")


def prepare(model: torch.nn.Module, mode: str) -> torch.nn.Module:
    model = copy.deepcopy(model).eval()
    if "channels_last" in mode:
        model = model.to(memory_format=torch.channels_last)
    return model


@torch.no_grad()
def extract(model: torch.nn.Module, images: torch.Tensor, batch: int, mode: str) -> torch.Tensor:
    """Pool features of all images, batch by batch, in the given mode."""
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if "bf16" in mode else nullcontext()
    out = []
    with ctx:
        for start in range(0, len(images), batch):
            out.append(model(images[start : start + batch])["pool"].float())
    return torch.cat(out)


def measure(model: torch.nn.Module, images: torch.Tensor, batch: int, rounds: int) -> dict:
    """Images/s per mode (median over alternating rounds) and the features of the last round."""
    models = {mode: prepare(model, mode) for mode in MODES}
    for mode, m in models.items():  # warm-up: one batch each
        extract(m, images[:batch], batch, mode)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    feats: dict[str, torch.Tensor] = {}
    for r in range(rounds):
        for mode, m in models.items():
            t0 = time.perf_counter()
            feats[mode] = extract(m, images, batch, mode)
            rates[mode].append(len(images) / (time.perf_counter() - t0))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} img/s" for k, v in rates.items()),
              file=sys.stderr)
    return {"images_per_s": {k: statistics.median(v) for k, v in rates.items()},
            "rounds": rates, "features": feats}


def bf16_drift(feats: dict[str, torch.Tensor]) -> dict:
    a, b = feats["fp32"].double(), feats["channels_last + bf16"].double()
    diff = (a - b).abs()
    return {
        "max_abs_diff": diff.max().item(),
        "mean_abs_diff": diff.mean().item(),
        "max_abs_feature": a.abs().max().item(),
        "mean_abs_feature": a.abs().mean().item(),
        "relative_max_diff": diff.max().item() / a.abs().max().item(),
        "mean_term_of_fid": (a.mean(0) - b.mean(0)).pow(2).sum().item(),
        "fp32_channels_last_max_abs_diff":
            (a - feats["fp32 channels_last"].double()).abs().max().item(),
    }


def digits_model():
    """The digits CNN if ``ganzoo_metrics.classifier`` exists, else None (and a note why)."""
    try:
        from ganzoo_metrics import classifier
    except ImportError as exc:
        return None, f"skipped: {exc}"
    try:
        return classifier.load_digits_classifier(), "shipped weights"
    except Exception as exc:  # noqa: BLE001 - weights missing: the speed does not depend on them
        return classifier.DigitClassifier(), f"random weights ({type(exc).__name__})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="Inception images per measurement")
    ap.add_argument("--batch", type=int, default=50, help="Inception batch size")
    ap.add_argument("--n-digits", type=int, default=5000, help="digits-CNN images per measurement")
    ap.add_argument("--digits-batch", type=int, default=500, help="digits-CNN batch size")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds (median reported)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    gen = torch.Generator().manual_seed(0)
    results = {"machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "python": platform.python_version()},
               "extractors": {}}

    torch.manual_seed(0)
    net = inception.FIDInceptionV3().eval()
    rgb = torch.randint(0, 256, (args.n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    print(f"FIDInceptionV3: {args.n} images, batch {args.batch}", file=sys.stderr)
    res = measure(net, rgb, args.batch, args.rounds)
    results["extractors"]["FIDInceptionV3 (random weights, 32->299)"] = {
        "images_per_s": res["images_per_s"], "rounds": res["rounds"], "n": args.n,
        "batch": args.batch}
    results["bf16_vs_fp32_pool"] = bf16_drift(res["features"])

    model, note = digits_model()
    if model is None:
        print(f"digits CNN {note}", file=sys.stderr)
    else:
        gray = torch.randint(0, 256, (args.n_digits, getattr(model, "in_channels", 1), 32, 32),
                             dtype=torch.uint8, generator=gen)
        print(f"digits CNN ({note}): {args.n_digits} images, batch {args.digits_batch}",
              file=sys.stderr)
        res = measure(model, gray, args.digits_batch, args.rounds)
        results["extractors"][f"digits CNN ({note}, 32x32)"] = {
            "images_per_s": res["images_per_s"], "rounds": res["rounds"], "n": args.n_digits,
            "batch": args.digits_batch}

    print(f"\nmachine: {results['machine']}")
    print("| extractor | " + " | ".join(f"{m} img/s" for m in MODES) + " | bf16 speedup |")
    print("| --- " * (len(MODES) + 2) + "|")
    for name, r in results["extractors"].items():
        ips = r["images_per_s"]
        print(f"| {name} | " + " | ".join(f"{ips[m]:.1f}" for m in MODES)
              + f" | {ips['channels_last + bf16'] / ips['fp32']:.2f}x |")
    d = results["bf16_vs_fp32_pool"]
    print(f"\nInception pool features, bf16 vs fp32 on {args.n} images: max |diff| "
          f"{d['max_abs_diff']:.4g} (max |feature| {d['max_abs_feature']:.4g}, relative "
          f"{d['relative_max_diff']:.2%}); mean |diff| {d['mean_abs_diff']:.4g} (mean |feature| "
          f"{d['mean_abs_feature']:.4g}); |mu_fp32 - mu_bf16|^2 = {d['mean_term_of_fid']:.4g}; "
          f"fp32 channels_last vs fp32 max |diff| {d['fp32_channels_last_max_abs_diff']:.3g}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
