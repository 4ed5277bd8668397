"""The plugin hooks of ganzoo: the complete contract between ganzoo and a plugin.

A plugin is a module that implements any subset of these hooks with ``@ganzoo.hookimpl``. Built-in
plugins (``ganzoo_selfmod``, ``ganzoo_losses``, ...) are loaded exactly like third-party ones; a
third-party package makes itself known through the entry-point group ``ganzoo``::

    # pyproject.toml of your package
    [project.entry-points.ganzoo]
    mygan = "mygan_plugin"          # a module that defines the hooks below

Every hook takes no arguments, is called once when the registry is built, and returns a list of
specs (see :mod:`ganzoo.specs`). Names must be unique across all plugins: two components of one
kind with the same name is an error that names both plugins. Set ``GANZOO_DISABLE_PLUGIN_AUTOLOAD=1``
to load only the built-ins (tests do).
"""

from __future__ import annotations

import pluggy

from ganzoo.specs import (  # noqa: I001
    ArchitectureSpec,
    CommandSpec,
    DatasetSpec,
    ExtractorSpec,
    FigureKind,
    LossSpec,
    MetricSpec,
    RegularizerSpec,
    SuiteSpec,
    TableKind,
)

PROJECT = "ganzoo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_architectures() -> list[ArchitectureSpec]:
    """Return the generator/discriminator families this plugin provides.

    Each :class:`~ganzoo.specs.ArchitectureSpec` names the family (the ``model.name`` of a run
    config), a pydantic ``params`` model (the ``model.params`` table; unknown keys are rejected) and
    ``build(params, info) -> (G, D)``, where ``info`` is a :class:`~ganzoo.specs.DataInfo` with the
    data's resolution, channel count and number of classes. The returned modules must follow the
    contract in :mod:`ganzoo.specs`: ``G(z, y=None)`` gives images in ``[-1, 1]`` of the data's
    shape and has an integer ``z_dim``; ``D(x, y=None)`` gives one logit per image.

    Example::

        @hookimpl
        def register_architectures():
            return [ArchitectureSpec(name="tiny-dcgan", build=build_tiny, params=TinyParams)]
    """


@hookspec
def register_losses() -> list[LossSpec]:
    """Return adversarial losses.

    A :class:`~ganzoo.specs.LossSpec` holds two pure functions of D's logits:
    ``d_loss(d_real, d_fake, params)`` and ``g_loss(d_fake, params)``, each returning a scalar to
    minimise. ``params`` is an instance of the spec's ``params`` model (the run config's
    ``loss.params``).

    Example::

        @hookimpl
        def register_losses():
            return [LossSpec(name="my-loss", d_loss=my_d, g_loss=my_g)]
    """


@hookspec
def register_regularizers() -> list[RegularizerSpec]:
    """Return penalties added to the discriminator's or generator's loss.

    A :class:`~ganzoo.specs.RegularizerSpec` has ``penalty(ctx, params)``, where ``ctx`` is a
    :class:`~ganzoo.specs.RegContext` (networks, the real and fake batch of the step and D's logits
    on them), and ``target`` ("d" or "g") says which loss the returned, already weighted, scalar is
    added to. A run lists any number of them under ``[[regularizers]]``.
    """


@hookspec
def register_datasets() -> list[DatasetSpec]:
    """Return datasets.

    A :class:`~ganzoo.specs.DatasetSpec` has ``load(params, request) -> ImageData``: all images of
    the requested split (``request.split`` is "train" or "test") as a uint8 NCHW tensor at
    ``request.resolution``, with integer labels when the dataset has them. ``request.data_root`` is
    the directory the user gave with ``--data-root`` (or None). A dataset that cannot be found must
    raise :class:`ganzoo.errors.DatasetUnavailable` saying what to put where.
    """


@hookspec
def register_metrics() -> list[MetricSpec]:
    """Return metric protocols.

    A :class:`~ganzoo.specs.MetricSpec` is a *named protocol* (e.g. ``fid10k``): the algorithm plus
    every choice that changes its value (sample counts, reference split...), described in
    ``protocol``. ``compute(ctx)`` receives a :class:`ganzoo.metrics.MetricContext` and returns a
    dict of named float values; generated and real images reach it as uint8 NCHW batches, and
    ``ctx.fake_features(n)`` / ``ctx.real_features(split, n)`` give features of the evaluation's
    extractor (real ones cached on disk under a content hash); ``outputs=("block768",)`` asks for
    named extra outputs the extractor offers (its ``block_outputs``) instead of pool and logits.

    Example::

        @hookimpl
        def register_metrics():
            return [MetricSpec(name="mean-brightness1k", compute=brightness,
                               protocol={"algorithm": "mean-brightness", "n_fake": 1000})]
    """


@hookspec
def register_extractors() -> list[ExtractorSpec]:
    """Return feature extractors that feature-based metrics (FID, IS, KID, precision/recall) can use.

    An :class:`~ganzoo.specs.ExtractorSpec` has ``load(request)``, where ``request`` is a
    :class:`ganzoo.metrics.ExtractorRequest` (an explicit weights file, a cache directory, whether
    downloading is allowed). It returns a module in eval mode mapping uint8 NCHW images to
    ``{"pool": [N, D], "logits": [N, K]}`` with the attributes ``weights_hash`` and ``resizer``,
    which go into every metric protocol that uses it. Weights that cannot be found must raise
    :class:`ganzoo.errors.GanzooError` saying which file to put where.
    """


@hookspec
def register_suites() -> list[SuiteSpec]:
    """Return benchmark suites.

    A :class:`~ganzoo.specs.SuiteSpec` names a suite (``ganzoo bench --suite NAME``) and points at
    its TOML file: base run config, axes, seeds, scales, tables and the paper's published numbers.
    """


@hookspec
def register_tables() -> list[TableKind]:
    """Return kinds of results tables a suite file can name (``[[tables]] kind = "NAME"``).

    A :class:`~ganzoo.specs.TableKind` has a pydantic ``spec`` (the table's fields in the suite
    file) and ``rows(records, spec, ctx)``, a pure function of the typed run records returning
    :class:`ganzoo.report.Rows`. Metric values are read through ``ctx.metric(key)``: the core then
    states every protocol and its hash in the caption and refuses a table mixing protocols.

    Example::

        @hookimpl
        def register_tables():
            return [TableKind(name="my-table", spec=MySpec, rows=my_rows)]
    """


@hookspec
def register_figures() -> list[FigureKind]:
    """Return kinds of results figures a suite file can name (``[[plots]] kind = "NAME"``).

    A :class:`~ganzoo.specs.FigureKind` has a pydantic ``spec`` (the plot's fields in the suite file,
    with ``kind``, ``title`` and ``file``) and ``draw(records, spec, ctx, fig)``, which draws into a
    fresh matplotlib ``Figure`` and returns False when there is nothing to plot (or the alt text).
    The core saves the figure atomically as ``<suite>-<file>.png`` and links it from the markdown
    and the HTML page; metric values are read through ``ctx.metric(key)`` as for tables.
    """


@hookspec
def register_commands() -> list[CommandSpec]:
    """Return commands added to the ``ganzoo`` command line (click commands or groups).

    A :class:`~ganzoo.specs.CommandSpec` names the command and holds the ``click.Command`` (or
    group). The core never imports a plugin: ``ganzoo features train`` is the metrics plugin's
    command, found through this hook when its name is not a built-in command. A plugin command
    with a built-in command's name is an error.
    """
