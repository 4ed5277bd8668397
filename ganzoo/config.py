"""Run configs: a TOML file validated by pydantic, with ``--set key.path=value`` overrides.

The core config holds ``{name, params}`` for each component and never a union of every plugin's
settings: :func:`resolve` validates each component's ``params`` with the model its plugin declares
and writes the defaults back, so the saved ``config.json`` is complete. Errors name the field path
(``model.params.width``) and, for unknown component names, list the available ones.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ganzoo.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Strict(BaseModel):
    """Unknown keys are errors and values are never coerced: ``true`` is not a number, ``2.5`` not
    an integer, ``3`` not a string (an int is still a valid float)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Component(Strict):
    """A registered component chosen by name, with the parameters its plugin validates."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class RegularizerConfig(Component):
    """A regularizer, and how often it runs (lazy regularization; the plugin's default when unset)."""

    interval: int | None = Field(
        None, ge=1, description="run the penalty on every N-th minibatch only, weighted by N "
        "(StyleGAN2's lazy R1: 16); default: the regularizer's own (1 for the built-ins)",
    )


class DataConfig(Component):
    """The training dataset: a registered dataset name, its params, and the resolution to serve."""

    resolution: int = Field(32, gt=0, description="images are resized to resolution x resolution")
    data_root: str | None = Field(None, description="where datasets look for their files")


class OptimConfig(Strict):
    """Adam settings for one network."""

    lr: float = Field(2e-4, gt=0)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)


class TrainConfig(Strict):
    """Length and shape of training."""

    g_steps: int = Field(1000, ge=1, description="generator steps (the self-mod study counts these)")
    batch_size: int = Field(64, ge=1)
    n_disc: int = Field(1, ge=1, description="discriminator steps per generator step")
    latent: Literal["normal", "uniform", "bernoulli", "censored-normal", "bernoulli-pm1", "categorical3",
                    "normal-x-bernoulli", "normal-and-bernoulli"] = Field(
        "normal", description="z ~ N(0, I), U(-1, 1) (compare_gan's default), or one of BigGAN's "
        "appendix E latents: Bernoulli {0, 1}, max(N(0, I), 0), Bernoulli {-1, 1}, categorical "
        "{-1, 0, 1}, N(0, I) * Bernoulli {0, 1}, or N(0, I) and Bernoulli {0, 1} on half the entries each",
    )
    seed: int = 0
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:1', ...")
    unroll: int = Field(
        0, ge=0, description="unrolled GAN (Metz et al. 2017): G's loss is taken against D after this "
        "many differentiable Adam steps on fresh batches (0: off)",
    )
    d_batch: Literal["separate", "joint"] = Field(
        "separate", description="D sees reals and fakes in two calls (PGGAN's and StudioGAN's code, "
        "DCGAN's 'separate minibatches') or in one call on their concatenation (compare_gan's, "
        "BigGAN-PyTorch's). The same numbers unless D has batch norm, whose batch statistics then "
        "span both, or minibatch statistics (minibatch stddev groups would mix reals and fakes)",
    )
    accumulate: int = Field(
        1, ge=1, description="gradient accumulation: each D and G step runs its minibatch as this many "
        "micro-batches and sums their gradients (BigGAN-PyTorch's num_D/G_accumulations), so a batch "
        "that does not fit in memory still trains. The loss is the minibatch's; batch statistics "
        "(batch norm, minibatch stddev, PGGAN's D noise level) see micro-batches",
    )

    @model_validator(mode="after")
    def _micro_batches(self) -> "TrainConfig":
        if self.batch_size % self.accumulate:
            raise ValueError(f"train.accumulate: batch_size {self.batch_size} is not divisible by "
                             f"{self.accumulate} micro-batches")
        if self.accumulate > 1 and self.unroll:
            raise ValueError("train.accumulate: not available with train.unroll (the unrolled D "
                             "steps take whole minibatches)")
        return self


class EMAConfig(Strict):
    """Exponential moving average of G's weights (BN buffers are copied)."""

    enabled: bool = False
    decay: float = Field(0.999, ge=0, le=1)
    start: int = Field(0, ge=0, description="G step before which G_ema is a plain copy of G")


class LogConfig(Strict):
    """How often to log, draw sample grids and write checkpoints (in generator steps)."""

    log_every: int = Field(50, ge=1)
    sample_every: int = Field(500, ge=0, description="0: only at the end")
    checkpoint_every: int = Field(500, ge=1)
    keep_every: int = Field(0, ge=0, description="also keep a numbered snapshot every N steps (0: never)")
    n_samples: int = Field(64, ge=1, description="images in each sample grid")
    sv_every: int = Field(
        0, ge=0, description="log the top singular value of every weight of G and D every N steps "
        "(BigGAN's collapse monitor; 0: off)",
    )
    tensorboard: bool = Field(False, description="also write losses, metrics, singular values and sample "
                              "grids as TensorBoard events in the run folder (pip install 'ganzoo[tensorboard]')")


class EvalConfig(Strict):
    """Metrics computed during training (on G_ema when EMA is on), with the best value kept."""

    metrics: list[str] = Field(default_factory=list, description="protocol names, e.g. ['fid2k', 'is2k']")
    every: int = Field(0, ge=0, description="evaluate every N G steps (0: only at the end)")
    extractor: str = Field("inception-v3-fid", description="feature extractor of FID/IS/KID/PR")
    bn: Literal["running", "standing"] = "running"
    seed: int = 42
    batch_size: int = Field(100, ge=1)


class FastConfig(Strict):
    """Opt-in speed levers, recorded with the run because they change the numbers slightly."""

    channels_last: bool = False
    bf16: bool = Field(False, description="bfloat16 autocast for forward passes (losses stay fp32)")
    threads: int | None = Field(None, ge=1, description="torch intra-op threads (default: torch's)")


# (section, field, default) of fields added after 0.1.0, omitted from RunConfig.hash at their default.
LATER_FIELDS = (("train", "unroll", 0), ("train", "d_batch", "separate"), ("train", "accumulate", 1))


class RunConfig(Strict):
    """One training run."""

    name: str = "run"
    data: DataConfig
    model: Component
    loss: Component
    regularizers: list[RegularizerConfig] = Field(default_factory=list)
    train: TrainConfig = Field(default_factory=TrainConfig)
    g_optim: OptimConfig = Field(default_factory=OptimConfig)
    d_optim: OptimConfig = Field(default_factory=OptimConfig)
    ema: EMAConfig = Field(default_factory=EMAConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    fast: FastConfig = Field(default_factory=FastConfig)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)

    def hash(self, exclude: tuple[str, ...] = ("name", "log")) -> str:
        """A short content hash of everything that changes what is trained (not names or logging).

        Fields added after the first release are left out while they hold their default, so the
        runs of an existing benchmark store keep their keys.
        """
        data = {k: v for k, v in self.model_dump(mode="json").items() if k not in exclude}
        for section, key, default in LATER_FIELDS:
            if section in data and data[section].get(key) == default:
                del data[section][key]
        for reg in data.get("regularizers", []):  # also added later: every step, as before
            if reg.get("interval") in (None, 1):
                reg.pop("interval", None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- reading ---------------------------------------------------------------------------------------
def read_config_file(path: str | Path) -> dict[str, Any]:
    """A TOML (or JSON, e.g. a run's saved config.json) file as a plain dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            return json.loads(text)
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from None


def parse_value(text: str) -> Any:
    """A --set value as a TOML value (numbers, booleans, strings, arrays); a bare word is a string.

    Nothing is ever evaluated as Python.
    """
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides to a raw config dict (a deep copy is returned)."""
    raw = json.loads(json.dumps(raw))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        parts = key.strip().split(".")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, ".".join(parts[: i + 1]), create=True)
        last = parts[-1]
        if isinstance(node, list):
            node[_index(node, last, key)] = parse_value(value)
        elif isinstance(node, dict):
            node[last] = parse_value(value)
        else:
            raise ConfigError(f"--set {key}: {'.'.join(parts[:-1])} is not a table")
    return raw


def _index(node: list, part: str, path: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {path}: {part!r} is not an index of a list of {len(node)}")
    return int(part)


def _child(node: Any, part: str, path: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, path)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set: {path} is not a table")
    if part not in node and create:
        node[part] = {}
    return node[part]


# -- validation ------------------------------------------------------------------------------------
def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line per pydantic error, 'field.path: message', joined with '; '."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = ".".join(p for p in (prefix, loc) if p)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"].endswith("_type") and not isinstance(err.get("input"), (dict, list)):
            value = err["input"]  # say what was given: strict types never coerce it
            shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
            msg += f", got {type(value).__name__} {shown}"
            if err["type"] == "string_type":
                msg += " (write strings in quotes)"
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


def resolve(raw: dict[str, Any], registry: Any) -> RunConfig:
    """Validate a raw config dict and each component's params; return the complete RunConfig."""
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None

    def check(kind: str, comp: Component, where: str) -> Component:
        spec = registry.get(kind, comp.name, where=f"{where}.name")
        try:
            params = spec.params.model_validate(comp.params)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{where}.params")) from None
        return comp.model_copy(update={"params": params.model_dump(mode="json")})

    cfg.data = check("datasets", cfg.data, "data")  # type: ignore[assignment]
    cfg.model = check("architectures", cfg.model, "model")
    cfg.loss = check("losses", cfg.loss, "loss")
    cfg.regularizers = [
        check("regularizers", r, f"regularizers.{i}") for i, r in enumerate(cfg.regularizers)
    ]
    for r in cfg.regularizers:  # the effective interval is written into the saved config
        if r.interval is None:
            r.interval = registry.get("regularizers", r.name).interval
    for i, name in enumerate(cfg.eval.metrics):
        registry.get("metrics", name, where=f"eval.metrics.{i}")
    if cfg.eval.metrics:
        registry.get("extractors", cfg.eval.extractor, where="eval.extractor")
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...], registry: Any) -> RunConfig:
    """Read, override and resolve a run config file."""
    return resolve(apply_overrides(read_config_file(path), overrides), registry)


def component_params(kind: str, comp: Component, registry: Any) -> Any:
    """The validated params object (an instance of the plugin's model) of a resolved component."""
    return registry.get(kind, comp.name).params.model_validate(comp.params)
