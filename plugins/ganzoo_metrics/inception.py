"""The FID Inception-v3: TF's ``inception-2015-12-05`` graph as ported to PyTorch by pytorch-fid.

FID (Heusel et al., 2017, the TTUR code) and the Inception Score (Salimans et al., 2016, the OpenAI
code) were defined on one particular TF graph, ``classify_image_graph_def.pb`` from
``inception-2015-12-05.tgz``. Its weights and a few layers differ from torchvision's Inception-v3,
and numbers from the two networks are not comparable (see the peers report, section 10). This
module rebuilds that graph in plain torch, with module names equal to the keys of pytorch-fid's
published port ``pt_inception-2015-12-05-6726825d.pth`` (mseitzer/pytorch-fid, release
``fid_weights``), so that file loads with ``strict=True``:

* ``Conv2d_1a_3x3`` .. ``Conv2d_4a_3x3``: the stem, each a :class:`BasicConv2d` (conv without
  bias, batch norm with eps 0.001, ReLU), with two 3x3 stride-2 max pools;
* ``Mixed_5b/5c/5d`` (35x35), ``Mixed_6a`` (to 17x17), ``Mixed_6b..6e`` (17x17), ``Mixed_7a``
  (to 8x8), ``Mixed_7b/7c`` (8x8): the Inception blocks, as :class:`MixedBlock` instances whose
  branches are listed in :func:`inception_a` .. :func:`inception_e`;
* ``fc``: ``Linear(2048, 1008)``, the graph's ``softmax/logits`` layer (1008 classes, not 1000).

Where the TF graph differs from torchvision (pytorch-fid's ``FIDInceptionA/C/E_1/E_2``):

* the 3x3 average pool in front of ``branch_pool`` in ``Mixed_5*``, ``Mixed_6b..6e`` and
  ``Mixed_7b`` does not count the zero padding (``count_include_pad=False``, TF's ``SAME`` pool);
* ``Mixed_7c`` uses a 3x3 stride-1 *max* pool there instead;
* there is no auxiliary classifier, and the classifier has 1008 outputs.

Input and outputs. :class:`FIDInceptionV3` takes **uint8** NCHW RGB images of any size (1-channel
images are repeated to 3 channels), converts them as pytorch-fid does: ``x / 255``, bilinear resize
to 299x299 with ``F.interpolate(align_corners=False)``, then ``2 x - 1`` to [-1, 1]. The TF graph
resizes with its own TF1 ``resize_bilinear``, which samples slightly different positions, so
features of images that are not already 299x299 differ slightly from the TF graph's (as they do in
pytorch-fid); :data:`RESIZER` names the resizer used so metric protocols can record it. Forward
returns ``{"pool": [N, 2048], "logits": [N, 1008]}``: ``pool`` is the global average pool of
``Mixed_7c`` (TF's ``pool_3``, the FID feature) and ``logits = pool @ fc.weight.T`` **without** the
bias, as the original IS reads ``softmax/logits/MatMul`` (implementation notes B.8; torch-fidelity's
``logits_unbiased``, NVIDIA's ``no_output_bias``).

Block features. pytorch-fid's ``--dims`` selects the output of one of its four blocks
(``BLOCK_INDEX_BY_DIM = {64: 0, 192: 1, 768: 2, 2048: 3}``): 64 after ``Conv2d_2b_3x3`` and the
first max pool, 192 after ``Conv2d_4a_3x3`` and the second max pool, 768 after ``Mixed_6e`` (the
features the auxiliary classifier would read), 2048 the final average pool; ``fid_score`` averages
any block output that is not 1x1 to 1x1 (``adaptive_avg_pool2d``). ``model(images,
outputs=("block768",))`` returns ``{"block768": [N, 768]}`` so, stopping after the deepest block
asked for (:meth:`FIDInceptionV3.block_features`); ``model(images)`` is unchanged and costs what it
did.

Weights. :func:`load_inception` reads the file from ``--inception-weights PATH`` or from
``~/.cache/ganzoo/weights/`` and downloads it there once if it is missing. The file's full SHA-256
(:data:`WEIGHTS_SHA256`; torch.hub's convention puts its first 8 hex digits, ``6726825d``, in the
file name) is checked after a download and whenever a file is loaded, so a file that merely shares
the 32-bit prefix is refused. The loaded model carries it as ``weights_sha256`` so a metric can
record exactly which file it used.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganzoo.api import DOWNLOAD_ERRORS, download_checked, file_hash
from ganzoo.api import GanzooError

WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth")
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
# The full SHA-256 of the published file (95,628,359 bytes). pytorch-fid itself publishes only the
# prefix in the file name; the full digest is the one pinned for this exact URL by genforce/genforce
# (metrics/inception.py, _MODEL_URL_SHA256["tf_inception_v3"]) and recorded for the same file by
# several independent projects (torch-fidelity's copy, weights-inception-2015-12-05-6726825d.pth,
# has the same digest). It starts with the file name's 6726825d, as torch.hub's convention requires.
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
DEFAULT_CACHE_DIR = Path("~/.cache/ganzoo/weights")
DOWNLOAD_TIMEOUT_S = 30.0
INPUT_SIZE = 299
# F.interpolate bilinear to 299x299, align_corners=False (pytorch-fid's), not TF1's resize_bilinear.
RESIZER = "torch-bilinear-299"
# pytorch-fid's InceptionV3.BLOCK_INDEX_BY_DIM: block i's output has BLOCK_DIMS[i] channels.
BLOCK_DIMS = (64, 192, 768, 2048)


class BasicConv2d(nn.Module):
    """Conv (no bias) + batch norm (eps 0.001, TF's) + ReLU: every conv layer of the graph."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


# ---- Inception blocks, described as data ---------------------------------------------------------


@dataclass(frozen=True)
class Conv:
    """One :class:`BasicConv2d` of a branch: its attribute name (= state-dict key) and shape."""

    name: str
    cin: int
    cout: int
    kernel: int | tuple[int, int]
    stride: int = 1
    padding: int | tuple[int, int] = 0


@dataclass(frozen=True)
class Branch:
    """A branch of a Mixed block, applied to the block input.

    ``pool`` (optional, applied first): ``"avg"`` is a 3x3 stride-1 average that ignores the
    padding (TF's SAME pooling), ``"max"`` a 3x3 stride-1 max, ``"max_s2"`` a 3x3 stride-2 max
    (the reduction blocks). Then ``convs`` in sequence; then, if given, the two ``fork`` convs both
    read the chain's output and their outputs are concatenated (the 1x3 / 3x1 pairs of
    ``Mixed_7b/7c``).
    """

    convs: tuple[Conv, ...] = ()
    pool: str | None = None
    fork: tuple[Conv, Conv] | None = None

    def out_channels(self, cin: int) -> int:
        if self.fork is not None:
            return sum(c.cout for c in self.fork)
        return self.convs[-1].cout if self.convs else cin


def _pool(kind: str, x: torch.Tensor) -> torch.Tensor:
    if kind == "avg":
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
    if kind == "max":
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
    if kind == "max_s2":
        return F.max_pool2d(x, kernel_size=3, stride=2)
    raise ValueError(f"unknown pool {kind!r}")


class MixedBlock(nn.Module):
    """An Inception block: its branches' outputs concatenated along channels, in branch order.

    Every conv is registered as a direct attribute under its :class:`Conv` name (``branch1x1``,
    ``branch5x5_1``, ...), so the state-dict keys are those of the published weights.
    """

    def __init__(self, kind: str, in_channels: int, branches: list[Branch]) -> None:
        super().__init__()
        self.kind = kind
        self.in_channels = in_channels
        self.branches = branches
        for branch in branches:
            for c in branch.convs + (branch.fork or ()):
                self.add_module(c.name, BasicConv2d(c.cin, c.cout, c.kernel, c.stride, c.padding))
        self.out_channels = sum(b.out_channels(in_channels) for b in branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for branch in self.branches:
            h = _pool(branch.pool, x) if branch.pool is not None else x
            for c in branch.convs:
                h = self._modules[c.name](h)
            if branch.fork is not None:
                h = torch.cat([self._modules[c.name](h) for c in branch.fork], 1)
            outputs.append(h)
        return torch.cat(outputs, 1)

    def extra_repr(self) -> str:
        return f"{self.kind}, in_channels={self.in_channels}, out_channels={self.out_channels}"


def inception_a(cin: int, pool_features: int) -> MixedBlock:
    """35x35 block (``Mixed_5b/5c/5d``; pytorch-fid's ``FIDInceptionA``)."""
    return MixedBlock("FIDInceptionA", cin, [
        Branch((Conv("branch1x1", cin, 64, 1),)),
        Branch((Conv("branch5x5_1", cin, 48, 1), Conv("branch5x5_2", 48, 64, 5, padding=2))),
        Branch((Conv("branch3x3dbl_1", cin, 64, 1), Conv("branch3x3dbl_2", 64, 96, 3, padding=1),
                Conv("branch3x3dbl_3", 96, 96, 3, padding=1))),
        Branch((Conv("branch_pool", cin, pool_features, 1),), pool="avg"),
    ])


def inception_b(cin: int) -> MixedBlock:
    """35x35 -> 17x17 reduction (``Mixed_6a``), as in torchvision."""
    return MixedBlock("InceptionB", cin, [
        Branch((Conv("branch3x3", cin, 384, 3, stride=2),)),
        Branch((Conv("branch3x3dbl_1", cin, 64, 1), Conv("branch3x3dbl_2", 64, 96, 3, padding=1),
                Conv("branch3x3dbl_3", 96, 96, 3, stride=2))),
        Branch(pool="max_s2"),
    ])


def inception_c(cin: int, c7: int) -> MixedBlock:
    """17x17 block with factorised 7x7 convs (``Mixed_6b..6e``; ``FIDInceptionC``)."""
    return MixedBlock("FIDInceptionC", cin, [
        Branch((Conv("branch1x1", cin, 192, 1),)),
        Branch((Conv("branch7x7_1", cin, c7, 1),
                Conv("branch7x7_2", c7, c7, (1, 7), padding=(0, 3)),
                Conv("branch7x7_3", c7, 192, (7, 1), padding=(3, 0)))),
        Branch((Conv("branch7x7dbl_1", cin, c7, 1),
                Conv("branch7x7dbl_2", c7, c7, (7, 1), padding=(3, 0)),
                Conv("branch7x7dbl_3", c7, c7, (1, 7), padding=(0, 3)),
                Conv("branch7x7dbl_4", c7, c7, (7, 1), padding=(3, 0)),
                Conv("branch7x7dbl_5", c7, 192, (1, 7), padding=(0, 3)))),
        Branch((Conv("branch_pool", cin, 192, 1),), pool="avg"),
    ])


def inception_d(cin: int) -> MixedBlock:
    """17x17 -> 8x8 reduction (``Mixed_7a``), as in torchvision."""
    return MixedBlock("InceptionD", cin, [
        Branch((Conv("branch3x3_1", cin, 192, 1), Conv("branch3x3_2", 192, 320, 3, stride=2))),
        Branch((Conv("branch7x7x3_1", cin, 192, 1),
                Conv("branch7x7x3_2", 192, 192, (1, 7), padding=(0, 3)),
                Conv("branch7x7x3_3", 192, 192, (7, 1), padding=(3, 0)),
                Conv("branch7x7x3_4", 192, 192, 3, stride=2))),
        Branch(pool="max_s2"),
    ])


def inception_e(cin: int, pool: str) -> MixedBlock:
    """8x8 block with 1x3 / 3x1 forks (``Mixed_7b``: avg pool, ``FIDInceptionE_1``; ``Mixed_7c``:
    max pool, ``FIDInceptionE_2``, a quirk of the TF graph that pytorch-fid reproduces)."""
    kind = {"avg": "FIDInceptionE_1", "max": "FIDInceptionE_2"}[pool]
    return MixedBlock(kind, cin, [
        Branch((Conv("branch1x1", cin, 320, 1),)),
        Branch((Conv("branch3x3_1", cin, 384, 1),),
               fork=(Conv("branch3x3_2a", 384, 384, (1, 3), padding=(0, 1)),
                     Conv("branch3x3_2b", 384, 384, (3, 1), padding=(1, 0)))),
        Branch((Conv("branch3x3dbl_1", cin, 448, 1),
                Conv("branch3x3dbl_2", 448, 384, 3, padding=1)),
               fork=(Conv("branch3x3dbl_3a", 384, 384, (1, 3), padding=(0, 1)),
                     Conv("branch3x3dbl_3b", 384, 384, (3, 1), padding=(1, 0)))),
        Branch((Conv("branch_pool", cin, 192, 1),), pool=pool),
    ])


# ---- The network ---------------------------------------------------------------------------------


class FIDInceptionV3(nn.Module):
    """The FID / IS Inception-v3 (TF 2015-12-05 graph). uint8 NCHW in, ``{"pool", "logits"}`` out.

    Constructed with random weights (He-normal convs, for tests and benchmarks); use
    :func:`load_inception` for the published ones. Keep it in eval mode: in training mode the
    batch norms would use batch statistics instead of the graph's moving averages.
    """

    feature_dims = {"pool": 2048, "logits": 1008}  # what forward returns by default
    block_outputs = {"block64": 64, "block192": 192, "block768": 768}  # on request (``outputs``)
    num_classes = 1008

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)  # 299 -> 149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)  # -> 147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)  # max pool -> 73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)  # -> 71, max pool -> 35
        self.Mixed_5b = inception_a(192, pool_features=32)  # -> 256
        self.Mixed_5c = inception_a(256, pool_features=64)  # -> 288
        self.Mixed_5d = inception_a(288, pool_features=64)  # -> 288
        self.Mixed_6a = inception_b(288)  # -> 768 x 17 x 17
        self.Mixed_6b = inception_c(768, c7=128)
        self.Mixed_6c = inception_c(768, c7=160)
        self.Mixed_6d = inception_c(768, c7=160)
        self.Mixed_6e = inception_c(768, c7=192)
        self.Mixed_7a = inception_d(768)  # -> 1280 x 8 x 8
        self.Mixed_7b = inception_e(1280, pool="avg")  # -> 2048
        self.Mixed_7c = inception_e(2048, pool="max")  # -> 2048
        self.fc = nn.Linear(2048, self.num_classes)
        # Random weights (tests, benchmarks) get He-normal convs, so activations keep their scale
        # through the 94 layers instead of fading to ~1e-7 under torch's default init.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[N, 1 or 3, H, W]`` -> float ``[N, 3, 299, 299]`` in [-1, 1], as pytorch-fid."""
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError("FIDInceptionV3 expects uint8 [N, 1 or 3, H, W] images, got "
                             f"{images.dtype} {tuple(images.shape)}")
        weight = self.Conv2d_1a_3x3.conv.weight
        x = images.to(device=weight.device, dtype=torch.float32) / 255.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        x = 2.0 * x - 1.0
        if weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _blocks(self) -> list[list]:
        """pytorch-fid's four blocks (``InceptionV3.blocks``), as lists of layers in order."""
        pool = lambda x: F.max_pool2d(x, kernel_size=3, stride=2)  # noqa: E731
        return [
            [self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, pool],  # -> 64 x 73 x 73
            [self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, pool],  # -> 192 x 35 x 35
            [self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
             self.Mixed_6c, self.Mixed_6d, self.Mixed_6e],  # -> 768 x 17 x 17
            [self.Mixed_7a, self.Mixed_7b, self.Mixed_7c],  # -> 2048 x 8 x 8
        ]

    def block_features(self, x: torch.Tensor, dims: tuple[int, ...]) -> dict[int, torch.Tensor]:
        """Preprocessed ``[N, 3, 299, 299]`` -> ``{dim: [N, dim]}`` for ``dims`` in (64, 192, 768, 2048).

        Each is the global average pool of the output of pytorch-fid's block
        ``BLOCK_INDEX_BY_DIM[dim]`` (what its ``fid_score`` does with a block output that is not
        1x1); 2048 is ``pool_3``. The forward stops after the deepest block asked for.
        """
        unknown = [d for d in dims if d not in BLOCK_DIMS]
        if unknown or not dims:
            raise ValueError(f"block feature dims must be some of {BLOCK_DIMS}, got {dims}")
        last = max(BLOCK_DIMS.index(d) for d in dims)
        out = {}
        for i, block in enumerate(self._blocks()[: last + 1]):
            for layer in block:
                x = layer(x)
            if BLOCK_DIMS[i] in dims:
                out[BLOCK_DIMS[i]] = x.mean(dim=(2, 3))
        return out

    def pool_features(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``[N, 3, 299, 299]`` -> ``[N, 2048]``: the average pool of ``Mixed_7c``."""
        return self.block_features(x, (2048,))[2048]

    def forward(self, images: torch.Tensor,
                outputs: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """``{"pool", "logits"}``, or the named ``outputs`` (any of those and ``block64``,
        ``block192``, ``block768``), computing only as deep as the deepest one needs."""
        wanted = ("pool", "logits") if outputs is None else tuple(outputs)
        known = {**self.feature_dims, **self.block_outputs}
        bad = [k for k in wanted if k not in known]
        if bad:
            raise ValueError(f"FIDInceptionV3 has no output(s) {bad}; it has {sorted(known)}")
        dims = {self.block_outputs.get(k, 2048) for k in wanted}
        feats = self.block_features(self.preprocess(images), tuple(sorted(dims)))
        out = {k: feats[d].float() for k, d in self.block_outputs.items() if k in wanted}
        if "pool" in wanted or "logits" in wanted:
            pool = feats[2048].float()
            if "pool" in wanted:
                out["pool"] = pool
            if "logits" in wanted:
                # IS logits: pool_3 @ W of softmax/logits/MatMul, no bias; kept in fp32 under autocast.
                with torch.autocast(pool.device.type, enabled=False):
                    out["logits"] = pool @ self.fc.weight.float().t()
        return {k: out[k] for k in wanted}


# ---- Weights -------------------------------------------------------------------------------------


def weights_hash(path: str | os.PathLike) -> str:
    """The full SHA-256 (hex) of a file: record it next to any FID/IS computed with it."""
    return file_hash(path, "sha256")


def default_weights_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir or ~/.cache/ganzoo/weights>/pt_inception-2015-12-05-6726825d.pth``."""
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    return root.expanduser() / WEIGHTS_FILENAME


def _open_url(url: str, timeout: float):
    """Open ``url`` for reading (a separate function so tests can simulate the network)."""
    return urllib.request.urlopen(url, timeout=timeout)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _unavailable(path: Path, why: str) -> GanzooError:
    return GanzooError(
        f"FID Inception weights missing: {path} ({_one_line(why)}). Download {WEIGHTS_URL} and "
        f"save it as {path}, or pass --inception-weights PATH to a copy of {WEIGHTS_FILENAME}"
    )


def _bad_file(path: Path, why: str) -> GanzooError:
    return GanzooError(
        f"{path} is not the FID Inception weights file {WEIGHTS_FILENAME} ({_one_line(why)}); "
        f"replace it with a fresh download of {WEIGHTS_URL}"
    )


def _read_state_dict(path: Path, model: FIDInceptionV3) -> dict[str, torch.Tensor]:
    """The file's tensors, with BN ``num_batches_tracked`` counters added where the file has none.

    pytorch-fid loads the file into torchvision's model; a state dict saved from a module carries
    the counters, one built key by key from the TF graph does not (torch-fidelity's converter
    writes none). They are unused in eval mode, so a missing one is set to 0 and the rest of the
    layout is checked key by key and shape by shape before the strict load.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and torch errors all mean "not this file"
        raise _bad_file(path, f"unreadable: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise _bad_file(path, "not a state dict of tensors")
    state = dict(state)
    expected = model.state_dict()
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"{len(keys)} {what} (first: {keys[0]})" for what, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected),
                  ("wrong shapes", wrong)) if keys]
        raise _bad_file(path, ", ".join(parts))
    return state


def load_inception(weights: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None,
                   download: bool = True) -> FIDInceptionV3:
    """The FID Inception with the published weights, in eval mode, without gradients.

    ``weights``: an explicit file (``--inception-weights``); it must exist. Otherwise the file is
    ``<cache_dir or ~/.cache/ganzoo/weights>/pt_inception-2015-12-05-6726825d.pth``, downloaded
    there from :data:`WEIGHTS_URL` when missing and ``download`` is on. Either way the file's
    SHA-256 must equal :data:`WEIGHTS_SHA256`; the hash is kept as
    ``model.weights_sha256``. Raises :class:`~ganzoo.errors.GanzooError` (one line) otherwise.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise GanzooError(f"--inception-weights: {path} does not exist (expected a copy of "
                              f"{WEIGHTS_FILENAME}, from {WEIGHTS_URL})")
    else:
        path = default_weights_path(cache_dir)
        if not path.is_file():
            if not download:
                raise _unavailable(path, "download is off")
            try:
                # _open_url is looked up at call time, so tests can simulate the network.
                download_checked(WEIGHTS_URL, path, "sha256", WEIGHTS_SHA256, DOWNLOAD_TIMEOUT_S,
                                 opener=lambda url, timeout: _open_url(url, timeout))
            except DOWNLOAD_ERRORS as exc:
                raise _unavailable(path, f"the download failed: {exc}") from None
    digest = weights_hash(path)
    if digest != WEIGHTS_SHA256:
        raise _bad_file(path, f"sha256 {digest} is not the published {WEIGHTS_SHA256}")
    model = FIDInceptionV3()
    model.load_state_dict(_read_state_dict(path, model), strict=True)
    model.weights_path = str(path)
    model.weights_sha256 = digest
    return model.eval().requires_grad_(False)
