"""The ``ganzoo`` command line. It parses options, builds configs and prints; the work happens elsewhere.

User errors (bad configs, missing files, unknown names) print one line and exit with status 2,
without a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from ganzoo import __version__
from ganzoo.errors import GanzooError


def user_errors(fn):
    """Turn GanzooError into a one-line click error (exit status 2)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GanzooError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ganzoo")
def main() -> None:
    """ganzoo: train, compare and extend GANs (PGGAN, BigGAN, self-modulation).

    \b
    Examples:
      ganzoo train configs/selfmod-sndcgan-digits.toml --out runs/sm
      ganzoo sample runs/sm/checkpoint.pt --n 64 --out samples.png
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
    Example (self-modulated SNDCGAN on the built-in handwritten digits, ~2 minutes on a laptop):
      ganzoo train configs/selfmod-sndcgan-digits.toml --out runs/sm
      ganzoo train configs/selfmod-sndcgan-digits.toml --out runs/sm --resume
      ganzoo train configs/selfmod-sndcgan-digits.toml --set train.g_steps=200 --set model.params.g_norm=bn
    """
    from ganzoo.config import load_config
    from ganzoo.trainer import train as run_training

    cfg = load_config(config, overrides)
    if dry_run:
        click.echo(cfg.to_json())
        return
    out = out or Path("runs") / cfg.name
    result = run_training(cfg, out, resume=resume, progress=not quiet)
    click.echo(f"{result.status}: {result.step} G steps, {result.images_shown / 1000:.1f} kimg, "
               f"{result.seconds:.0f} s -> {result.out}")
    if result.status == "diverged":
        click.echo("the loss became non-finite; the last good checkpoint is kept", err=True)
        sys.exit(3)
    if result.status == "interrupted":
        sys.exit(130)


@main.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--n", "n", type=click.IntRange(1, 10000), default=64, show_default=True,
              help="Number of images.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="PNG file for the grid.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the latents.")
@click.option("--raw", is_flag=True, help="Use the raw G even when the run has an EMA copy.")
@click.option("--nrow", type=click.IntRange(1), default=None, help="Images per grid row.")
@user_errors
def sample(checkpoint: Path, n: int, out: Path, seed: int, raw: bool, nrow: int | None) -> None:
    """Draw a grid of samples from a checkpoint (its EMA generator by default).

    \b
    Example:
      ganzoo sample runs/sm/checkpoint.pt --n 64 --out samples.png --seed 1
    """
    import torch

    from ganzoo.build import LatentSampler, load_generator
    from ganzoo.data import to_uint8
    from ganzoo.images import save_grid

    if out.suffix.lower() != ".png":
        raise GanzooError(f"--out {out}: the grid is written as PNG; use a .png file name")
    G, cfg, info = load_generator(checkpoint, use_ema=not raw)
    z, y = LatentSampler(G.z_dim, cfg.train.latent, info.num_classes, seed).sample(n)
    with torch.no_grad():
        imgs = torch.cat([G(z[i : i + 256], None if y is None else y[i : i + 256])
                          for i in range(0, n, 256)])
    save_grid(to_uint8(imgs), out, nrow=nrow, scale=max(1, 64 // info.resolution))
    click.echo(f"wrote {n} samples of {cfg.model.name} to {out}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@user_errors
def plugins(as_json: bool) -> None:
    """List every loaded plugin (name, version, origin) and the components it registers.

    \b
    Example:
      ganzoo plugins
      GANZOO_DISABLE_PLUGIN_AUTOLOAD=1 ganzoo plugins   # built-ins only
    """
    import json

    from ganzoo.registry import get_registry

    reg = get_registry()
    if as_json:
        click.echo(json.dumps([vars(p) for p in reg.plugins.values()], indent=2))
        return
    for p in reg.plugins.values():
        click.echo(f"{p.name} {p.version} ({p.origin})")
        for kind, names in sorted(p.components.items()):
            click.echo(f"  {kind}: {', '.join(sorted(names))}")


if __name__ == "__main__":  # pragma: no cover
    main()
