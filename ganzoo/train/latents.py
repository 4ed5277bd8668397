"""Latents: z (and fake labels) from a seeded generator of their own, saved with the run.

Training, sample grids, ``ganzoo sample`` and the metric engine all draw latents through
:class:`LatentSampler`, so a seed fixes the same z everywhere and a resumed run continues the
stream where the checkpoint left it.
"""

from __future__ import annotations

import torch

from ganzoo.errors import ConfigError


LABEL_STREAM = 0x1ABE15  # XORed into the seed of the label generator: a stream apart from z's


class LatentSampler:
    """Draws z (and fake labels for labelled data) from its own seeded generators.

    ``truncation`` applies BigGAN's truncation trick as its paper defines it: every entry of z whose
    magnitude exceeds the threshold is drawn again from the same distribution until none does.
    Labels come from a second generator seeded from the same seed (:data:`LABEL_STREAM`), so the
    resampling loop cannot shift them: with one seed, every threshold of a truncation sweep sees
    the same labels, and the points of the IS-FID curve are paired comparisons.
    """

    def __init__(self, z_dim: int, dist: str, num_classes: int, seed: int,
                 device: torch.device | str = "cpu", truncation: float | None = None) -> None:
        if truncation is not None and truncation <= 0:
            raise ConfigError(f"truncation must be positive, got {truncation}")
        if truncation is not None and dist != "normal":
            raise ConfigError(f"truncation resamples a normal latent; train.latent is {dist!r}")
        self.z_dim, self.dist, self.num_classes = z_dim, dist, num_classes
        self.device = torch.device(device)
        self.truncation = truncation
        self.gen = torch.Generator().manual_seed(seed)
        self.label_gen = torch.Generator().manual_seed(seed ^ LABEL_STREAM)

    def _draw(self, shape: tuple[int, ...]) -> torch.Tensor:
        g = self.gen
        if self.dist == "uniform":
            return torch.rand(shape, generator=g).mul_(2).sub_(1)
        if self.dist == "normal":
            return torch.randn(shape, generator=g)
        # BigGAN appendix E's alternatives (the two annealed/variable-variance ones are not offered).
        coin = lambda: (torch.rand(shape, generator=g) < 0.5).float()  # noqa: E731
        if self.dist == "bernoulli":
            return coin()
        if self.dist == "censored-normal":
            return torch.randn(shape, generator=g).clamp_min_(0)
        if self.dist == "bernoulli-pm1":
            return coin().mul_(2).sub_(1)
        if self.dist == "categorical3":
            return torch.randint(3, shape, generator=g).float().sub_(1)
        if self.dist == "normal-x-bernoulli":
            return torch.randn(shape, generator=g) * coin()
        if self.dist == "normal-and-bernoulli":  # first half of the entries normal, second half 0/1
            z = torch.randn(shape, generator=g)
            half = shape[-1] // 2
            z[..., half:] = coin()[..., half:]
            return z
        raise ConfigError(f"unknown latent distribution {self.dist!r}")

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = self._draw((n, self.z_dim))
        if self.truncation is not None:
            outside = z.abs() > self.truncation
            while outside.any():
                z[outside] = self._draw((int(outside.sum()),))
                outside = z.abs() > self.truncation
        y = (torch.randint(self.num_classes, (n,), generator=self.label_gen)
             if self.num_classes > 0 else None)
        z = z.to(self.device)
        return z, (y.to(self.device) if y is not None else None)

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "label_gen": self.label_gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.gen.set_state(state["gen"])
        if "label_gen" in state:  # checkpoints from before the label stream keep its seeded start
            self.label_gen.set_state(state["label_gen"])
