"""Data-parallel training over several processes: ``torchrun --nproc_per_node N -m ganzoo train ...``.

Every process holds full copies of G and D, built from the same seed. Each step, every process
draws the *global* minibatch from the run's seeded samplers (so the stream of data and latents is
the one a single process would see) and keeps its own slice of it; after each backward pass the
gradients are averaged over processes, so all copies take the same optimizer step. Batch norm
layers become cross-replica ("synchronised") batch norm, as BigGAN trains, so their statistics are
those of the global batch: a 2-process step then gives the parameters of a 1-process step on the
same global batch, up to float rounding (``tests/test_distributed.py``).

Why gradients are averaged here and not by wrapping the networks in
``torch.nn.parallel.DistributedDataParallel``: a GAN step runs D several times before one backward
(reals, fakes, and again inside gradient penalties) and switches ``requires_grad`` between G and D
every step, which the DDP wrapper's reducer does not allow without ``static_graph`` tricks that
break with penalties. The averaging is the same collective DDP issues (one flat all-reduce per
network and step); only the overlap of communication with the backward pass is given up, which
matters little for GANs of this size.

Backends: gloo on CPU, NCCL on CUDA. On CUDA, batch norm uses ``torch.nn.SyncBatchNorm``; torch's
version refuses CPU tensors, so on CPU :class:`CrossReplicaBatchNorm` does the same computation
with an autograd-aware all-reduce.

Only rank 0 writes files (config, logs, samples, checkpoints, metrics); every rank reads the same
checkpoint when a run is resumed.

Known difference from one process: layers that look across the minibatch other than batch norm
(PGGAN's minibatch standard deviation, minibatch discrimination) see each process's slice only,
as they do in the authors' multi-GPU code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ganzoo.errors import ConfigError


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    size: int = 1
    owned: bool = False  # this module created the process group (and destroys it at the end)

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """This rank's contiguous slice of a global batch."""
        if x is None or not self.active:
            return x
        n = x.shape[0] // self.size
        return x[self.rank * n:(self.rank + 1) * n]

    def check_batch(self, n: int, what: str = "train.batch_size") -> None:
        if self.active and n % self.size:
            raise ConfigError(f"{what}: {n} is not divisible by the {self.size} processes")


def setup(device: torch.device) -> World:
    """Join the process group torchrun describes in the environment (``WORLD_SIZE`` > 1), if any."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    owned = not dist.is_initialized()
    if owned:
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return World(rank=dist.get_rank(), size=dist.get_world_size(), owned=owned)


def teardown(world: World) -> None:
    """Wait for every rank, then destroy the process group if :func:`setup` created it."""
    if world.active and dist.is_initialized():
        dist.barrier()
        if world.owned:
            dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.active:
        dist.barrier()


def average_gradients(module: nn.Module, world: World) -> None:
    """Average the gradients of ``module`` over processes, in one flat all-reduce."""
    if not world.active:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def mean_over_processes(values: list[float], world: World) -> list[float]:
    """Average a few scalars (the losses to log and to test for divergence) over processes."""
    if not world.active:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return (t / world.size).tolist()


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes with a gradient: the backward pass sums the incoming gradients too.

    (torch's ``torch.distributed.nn.functional.all_reduce`` does the same but is deprecated.)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    """Autograd-aware sum of ``x`` over the processes of the default group."""
    return _AllReduceSum.apply(x)


class CrossReplicaBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch over all processes.

    Per channel, an autograd-aware all-reduce adds up every process's sums of ``x`` (the global
    mean), then of the squared deviations from that mean (the global biased variance), which
    normalise ``x``. The
    running statistics get the unbiased variance, as ``F.batch_norm`` does. Outside training (or
    outside a process group) it is ordinary batch norm. Works for ``[N, C]`` and ``[N, C, H, W]``.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected a 2-D to 5-D input, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        c = x.shape[1]
        xf = x.float()
        # Two passes (the mean, then the squared deviations from it), as precise as F.batch_norm.
        sums = all_reduce(torch.cat([xf.sum(dims), torch.tensor([float(x.numel() // c)], device=x.device)]))
        n = sums[-1]
        mean = sums[:c] / n
        shape = [1, c] + [1] * (x.dim() - 2)
        centred = xf - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / n
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        out = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every batch-norm layer by its cross-replica version (SyncBatchNorm on CUDA)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not isinstance(child, CrossReplicaBatchNorm):
            new = CrossReplicaBatchNorm(child.num_features, eps=child.eps, momentum=child.momentum,
                                        affine=child.affine, track_running_stats=child.track_running_stats)
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_batchnorm(child, device)
    return module


__all__ = ["World", "setup", "teardown", "barrier", "all_reduce", "average_gradients", "mean_over_processes",
           "CrossReplicaBatchNorm", "convert_batchnorm"]
