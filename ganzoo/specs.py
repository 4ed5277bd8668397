"""The small specs that plugins return from their ``register_*`` hooks, and the contracts they promise.

A plugin never subclasses a ganzoo base class: it returns one of these frozen records, naming a
component, the pydantic model that validates the component's ``params``, and plain callables.

Contracts (checked for every registered component by ``tests/test_contracts.py``):

* **Architecture** ``build(params, info) -> (G, D)``.
  ``G(z, y=None)`` maps latents ``[N, G.z_dim]`` (and integer labels ``[N]`` when the network is
  conditional) to images ``[N, info.channels, info.resolution, info.resolution]`` in ``[-1, 1]``.
  ``D(x, y=None)`` maps such images to one logit per image, shape ``[N]``.
  ``G`` has the integer attribute ``z_dim``.
* **Loss** ``d_loss(d_real, d_fake, params)`` and ``g_loss(d_fake, params)`` take the logits of D and
  return scalar tensors to minimise.
* **Regularizer** ``penalty(ctx, params)`` returns a scalar tensor, already weighted, added to the loss
  of the network named by ``target`` ("d" or "g"). With ``interval`` k > 1 (lazy regularization)
  the trainer runs it on every k-th step only and multiplies it by k.
* **Dataset** ``load(params, request) -> ImageData`` (see :mod:`ganzoo.data`): uint8 NCHW in memory.
* **Metric** ``compute(ctx) -> dict[str, float]`` (a named protocol); ``better`` says, per value key,
  whether "lower" or "higher" is better (keys without a direction have no best).
* **Growing** networks (architectures with a ``schedule``) implement :class:`Growing`.
* **Extractor** ``load(request) -> module`` mapping uint8 NCHW images to features.
* **Suite** a TOML file in ``path`` read by the benchmark runner.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, model_validator

if TYPE_CHECKING:  # pragma: no cover  (torch only in annotations: importing the specs stays torch-free)
    import torch

    from ganzoo.data import DataRequest, ImageData


class Params(BaseModel):
    """Base for a component's parameter model: unknown keys are errors, values are validated strictly.

    Strict means no silent coercion (``true`` is not the number 1, ``2.5`` not the integer 2, ``3``
    not the string "3"); an int is still a valid float. TOML and JSON have no tuples, so a list is
    accepted for a tuple field (its items are still checked strictly).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _lists_as_tuples(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            if isinstance(out.get(name), list) and _is_tuple(info.annotation):
                out[name] = tuple(out[name])
        return out


def _is_tuple(annotation: Any) -> bool:
    """Whether a field annotation is a tuple, or a union holding one (``tuple[int, int] | None``)."""
    origin = typing.get_origin(annotation)
    if annotation is tuple or origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(annotation))
    return False


class NoParams(Params):
    """For components that take no parameters."""


@dataclass(frozen=True)
class DataInfo:
    """What an architecture needs to know about the data it will model."""

    resolution: int
    channels: int
    num_classes: int = 0  # 0: unlabelled data / unconditional model


@dataclass(frozen=True)
class Phase:
    """Where a growing (progressive) run stands after some number of images shown.

    ``lod`` is PGGAN's level of detail: 0 is the full resolution, each unit halves it, and a
    fractional value is a fade-in. ``key`` is ``(floor(lod), ceil(lod))``: the trainer resets the
    Adam states of G and D whenever it changes (the start and end of each fade, as PGGAN's code).
    """

    lod: float
    batch_size: int
    key: tuple[int, int]
    resolution: int


class GrowthSchedule(Protocol):
    """What an architecture that grows during training gives the trainer (see ``ArchitectureSpec``).

    ``phase(images_shown)`` says where training stands; ``reals(x, phase)`` fades the real images
    the way D must see them in that phase. The networks themselves hold ``lod`` as a buffer and
    take ``set_lod(lod)``.
    """

    def phase(self, images_shown: int) -> Phase: ...

    def reals(self, x: torch.Tensor, phase: Phase) -> torch.Tensor: ...


@runtime_checkable
class Growing(Protocol):
    """What G and D of a growing architecture (one with a ``schedule``) offer the trainer.

    ``set_lod(lod)`` is called on G, D and G_ema before every step with the schedule's level of
    detail. ``observe_real(d_real)`` is called on D after every D forward pass on reals with its
    detached logits (PGGAN's adaptive D noise tracks them; a network that needs nothing does nothing).
    """

    def set_lod(self, lod: float) -> None: ...

    def observe_real(self, d_real: torch.Tensor) -> None: ...


@dataclass(frozen=True)
class ArchitectureSpec:
    """A generator/discriminator pair. ``build(params, info)`` returns ``(G, D)``.

    ``schedule``, for architectures that grow (PGGAN), is ``schedule(params, info, batch_size)``
    returning a :class:`GrowthSchedule`; the trainer then sets the networks' level of detail before
    every step, takes the phase's batch size, fades the reals and resets Adam at phase changes;
    both networks must then be :class:`Growing`.
    """

    name: str
    build: Callable[[Any, DataInfo], tuple[torch.nn.Module, torch.nn.Module]]
    params: type[Params] = NoParams
    description: str = ""
    schedule: Callable[[Any, DataInfo, int], GrowthSchedule] | None = None


@dataclass(frozen=True)
class LossSpec:
    """An adversarial loss as two small pure functions of D's logits."""

    name: str
    d_loss: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
    g_loss: Callable[[torch.Tensor, Any], torch.Tensor]
    params: type[Params] = NoParams
    description: str = ""


@dataclass
class RegContext:
    """Everything a regularizer may look at during one D (or G) step.

    ``real``/``fake`` are the images D saw in this step (``fake`` detached for D steps), ``d_real``/
    ``d_fake`` its logits on them (``d_real`` is None during G steps). ``D`` and ``G`` are the
    networks being trained; ``autocast`` is a context-manager factory that reproduces the step's
    precision setting when a regularizer runs D again. In a multi-process run the images are this
    process's share of the global batch (see ``world_size`` and ``shard``).
    """

    D: torch.nn.Module
    G: torch.nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    y_real: torch.Tensor | None
    y_fake: torch.Tensor | None
    d_real: torch.Tensor | None
    d_fake: torch.Tensor
    step: int
    autocast: Callable[[], Any]
    # Multi-process runs (ganzoo.distributed): a regularizer that draws per-sample random numbers
    # draws them for the global batch of ``world_size * N`` and keeps ``shard(...)``, its own part,
    # so that N processes draw what one process would.
    world_size: int = 1
    shard: Callable[[torch.Tensor], torch.Tensor] = staticmethod(lambda x: x)


@dataclass(frozen=True)
class RegularizerSpec:
    """A penalty added to the D loss (``target="d"``) or the G loss (``target="g"``).

    ``interval`` is the default for lazy regularization (StyleGAN2 runs R1 every 16 D minibatches):
    the penalty runs on every ``interval``-th minibatch of its network only, multiplied by
    ``interval`` so that its average weight is unchanged. A run config may override it
    (``regularizers[i].interval``); 1 is every step.
    """

    name: str
    penalty: Callable[[RegContext, Any], torch.Tensor]
    target: Literal["d", "g"] = "d"
    interval: int = 1
    params: type[Params] = NoParams
    description: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset held in memory as uint8 NCHW. ``load(params, request)`` returns an ``ImageData``."""

    name: str
    load: Callable[[Any, "DataRequest"], "ImageData"]
    params: type[Params] = NoParams
    description: str = ""
    labelled: bool = False
    # The feature extractor FID/IS/KID/PR use by default on this data (``ganzoo eval`` without
    # --extractor); None: the generic ``inception-v3-fid``.
    extractor: str | None = None


@dataclass(frozen=True)
class MetricSpec:
    """A named metric protocol, e.g. ``fid10k``: an algorithm with every count and split fixed.

    ``compute(ctx)`` gets a :class:`ganzoo.metrics.MetricContext` (generated and real images as
    uint8 NCHW batches, features of the evaluation's extractor, the cache) and returns named float
    values. ``protocol`` holds the fixed choices (algorithm, sample counts, reference split...);
    the engine adds the extractor and its weight hash, the generator mode and the truncation, and
    returns the protocol's hash with every value. ``uses_extractor`` says whether the metric works
    on features of the evaluation's feature extractor. ``better`` maps value keys to "lower" or
    "higher": the trainer keeps the best of those values during training (the bench reads it).
    ``values`` lists the value keys ``compute`` returns (``fnmatch`` patterns allowed, e.g.
    ``swd_*``), so that a suite table naming a key no evaluated metric gives fails before any
    training; empty means undeclared (then the suite's keys are not checked against this metric).
    """

    name: str
    compute: Callable[[Any], dict[str, float]]
    protocol: dict[str, Any] = field(default_factory=dict)
    uses_extractor: bool = False
    description: str = ""
    better: dict[str, Literal["lower", "higher"]] = field(default_factory=dict)
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExtractorSpec:
    """A feature extractor for metrics: ``load(request)`` returns a module in eval mode.

    The module maps uint8 NCHW images to ``{"pool": [N, D], "logits": [N, K]}`` and has the string
    attributes ``weights_hash`` (sha256 of the weights it runs with) and ``resizer``. It may offer
    more named outputs (``block_outputs``: name -> size), returned by ``module(images, outputs=...)``.
    """

    name: str
    load: Callable[[Any], torch.nn.Module]
    description: str = ""


@dataclass(frozen=True)
class SuiteSpec:
    """A benchmark suite: a TOML file the benchmark runner expands into runs and tables."""

    name: str
    path: Path
    description: str = ""


@dataclass(frozen=True)
class TableKind:
    """A kind of results table (``[[tables]] kind = NAME`` in a suite file).

    ``spec`` is the pydantic model of the table's fields in the suite file (it must accept ``kind``
    and ``title``; unknown keys are errors). ``rows(records, spec, ctx)`` is a pure function of the
    typed run records (:class:`ganzoo.report.RunRecord`) returning a :class:`ganzoo.report.Rows`
    (headers, rows of strings, caption notes); it reads every metric value through
    ``ctx.metric(key)``, which is how the core states each protocol and its hash in the caption and
    refuses a table whose cells would mix protocols. The core renders the rows (markdown, HTML).
    """

    name: str
    spec: type[BaseModel]
    rows: Callable[[list, Any, Any], Any]
    description: str = ""


@dataclass(frozen=True)
class FigureKind:
    """A kind of results figure (``[[plots]] kind = NAME``): ``draw(records, spec, ctx, fig)``.

    ``draw`` gets a fresh matplotlib ``Figure`` (no pyplot) and returns False when the records
    hold nothing to plot; the core sizes nothing, saves the figure atomically and links it.
    """

    name: str
    spec: type[BaseModel]
    draw: Callable[[list, Any, Any, Any], bool]
    description: str = ""


@dataclass(frozen=True)
class CommandSpec:
    """A command a plugin adds to the ``ganzoo`` command line (a ``click.Command`` or group)."""

    name: str
    command: Any
    description: str = ""


SINGULAR = {
    "architectures": "architecture", "losses": "loss", "regularizers": "regularizer",
    "datasets": "dataset", "metrics": "metric", "extractors": "extractor", "suites": "suite",
    "tables": "table kind", "figures": "figure kind", "commands": "command",
}

KINDS = {
    "architectures": ArchitectureSpec,
    "losses": LossSpec,
    "regularizers": RegularizerSpec,
    "datasets": DatasetSpec,
    "metrics": MetricSpec,
    "extractors": ExtractorSpec,
    "suites": SuiteSpec,
    "tables": TableKind,
    "figures": FigureKind,
    "commands": CommandSpec,
}
