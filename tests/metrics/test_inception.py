"""The FID Inception-v3 (``ganzoo_metrics.inception``): published layout, forward, loading.

The published file (pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``, ~95 MB) is not
available offline, so its layout is written out below from the published architecture and checked
against independent published numbers; the loading paths are exercised with random weights saved
in ``tmp_path`` under the published file name. Nothing touches the network.
"""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ganzoo_metrics import inception

from ganzoo.errors import GanzooError

# ---- The published layout ------------------------------------------------------------------------
# Conv weight shapes [out, in, kh, kw] of every BasicConv2d, per block: torchvision's Inception3
# blocks with the channel counts pytorch-fid passes (its fid_inception_v3), no AuxLogits, 1008
# classes. Every BasicConv2d also has bn.{weight, bias, running_mean, running_var} of [out].

STEM = {
    "Conv2d_1a_3x3": (32, 3, 3, 3),
    "Conv2d_2a_3x3": (32, 32, 3, 3),
    "Conv2d_2b_3x3": (64, 32, 3, 3),
    "Conv2d_3b_1x1": (80, 64, 1, 1),
    "Conv2d_4a_3x3": (192, 80, 3, 3),
}


def block_a(cin: int, pool: int) -> dict:
    return {"branch1x1": (64, cin, 1, 1), "branch5x5_1": (48, cin, 1, 1),
            "branch5x5_2": (64, 48, 5, 5), "branch3x3dbl_1": (64, cin, 1, 1),
            "branch3x3dbl_2": (96, 64, 3, 3), "branch3x3dbl_3": (96, 96, 3, 3),
            "branch_pool": (pool, cin, 1, 1)}


def block_b(cin: int) -> dict:
    return {"branch3x3": (384, cin, 3, 3), "branch3x3dbl_1": (64, cin, 1, 1),
            "branch3x3dbl_2": (96, 64, 3, 3), "branch3x3dbl_3": (96, 96, 3, 3)}


def block_c(cin: int, c7: int) -> dict:
    return {"branch1x1": (192, cin, 1, 1),
            "branch7x7_1": (c7, cin, 1, 1), "branch7x7_2": (c7, c7, 1, 7),
            "branch7x7_3": (192, c7, 7, 1),
            "branch7x7dbl_1": (c7, cin, 1, 1), "branch7x7dbl_2": (c7, c7, 7, 1),
            "branch7x7dbl_3": (c7, c7, 1, 7), "branch7x7dbl_4": (c7, c7, 7, 1),
            "branch7x7dbl_5": (192, c7, 1, 7),
            "branch_pool": (192, cin, 1, 1)}


def block_d(cin: int) -> dict:
    return {"branch3x3_1": (192, cin, 1, 1), "branch3x3_2": (320, 192, 3, 3),
            "branch7x7x3_1": (192, cin, 1, 1), "branch7x7x3_2": (192, 192, 1, 7),
            "branch7x7x3_3": (192, 192, 7, 1), "branch7x7x3_4": (192, 192, 3, 3)}


def block_e(cin: int) -> dict:
    return {"branch1x1": (320, cin, 1, 1),
            "branch3x3_1": (384, cin, 1, 1), "branch3x3_2a": (384, 384, 1, 3),
            "branch3x3_2b": (384, 384, 3, 1),
            "branch3x3dbl_1": (448, cin, 1, 1), "branch3x3dbl_2": (384, 448, 3, 3),
            "branch3x3dbl_3a": (384, 384, 1, 3), "branch3x3dbl_3b": (384, 384, 3, 1),
            "branch_pool": (192, cin, 1, 1)}


BLOCKS = {
    "Mixed_5b": block_a(192, 32), "Mixed_5c": block_a(256, 64), "Mixed_5d": block_a(288, 64),
    "Mixed_6a": block_b(288),
    "Mixed_6b": block_c(768, 128), "Mixed_6c": block_c(768, 160), "Mixed_6d": block_c(768, 160),
    "Mixed_6e": block_c(768, 192),
    "Mixed_7a": block_d(768), "Mixed_7b": block_e(1280), "Mixed_7c": block_e(2048),
}


def published_layout() -> dict[str, tuple[int, ...]]:
    """Key -> shape of the published file, without BN ``num_batches_tracked`` counters."""
    convs = dict(STEM)
    for block, members in BLOCKS.items():
        convs.update({f"{block}.{name}": shape for name, shape in members.items()})
    layout = {}
    for name, shape in convs.items():
        layout[f"{name}.conv.weight"] = shape
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            layout[f"{name}.bn.{suffix}"] = (shape[0],)
    layout["fc.weight"] = (1008, 2048)
    layout["fc.bias"] = (1008,)
    return layout


# ---- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> inception.FIDInceptionV3:
    torch.manual_seed(0)
    return inception.FIDInceptionV3().eval()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, model) -> Path:
    """The random weights saved as torch.save(model.state_dict()), under the published name."""
    path = tmp_path_factory.mktemp("weights") / inception.WEIGHTS_FILENAME
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def accept(monkeypatch):
    """Make ``load_inception`` accept a given file's SHA-256 (the random weights' own)."""
    def accept_file(path: Path) -> None:
        monkeypatch.setattr(inception, "WEIGHTS_SHA256", inception.weights_hash(path))
    return accept_file


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(url, timeout):
        raise AssertionError(f"test tried to open {url}")
    monkeypatch.setattr(inception, "_open_url", refuse)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(sa[key], sb[key]), key


def images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=gen)


# ---- Layout --------------------------------------------------------------------------------------


def test_state_dict_matches_published_layout(model):
    layout = published_layout()
    state = model.state_dict()
    counters = {k for k in state if k.endswith(".bn.num_batches_tracked")}
    assert {k: tuple(v.shape) for k, v in state.items() if k not in counters} == layout
    # One counter per BasicConv2d; the published file may or may not carry them (see loading tests).
    assert counters == {k.replace(".conv.weight", ".bn.num_batches_tracked")
                        for k in layout if k.endswith(".conv.weight")}
    for name, module in model.named_modules():
        if isinstance(module, inception.BasicConv2d):
            assert module.conv.bias is None and module.bn.eps == 0.001, name


def test_sizes_agree_with_independent_published_numbers(model):
    # torchvision documents Inception_V3_Weights.IMAGENET1K_V1 num_params = 27,161,264 (aux
    # classifier, 1000 classes). Its AuxLogits are conv0 (768->128, 1x1, + BN), conv1 (128->768,
    # 5x5, + BN) and fc (768->1000). The FID net drops them and has 1008 classes instead of 1000.
    aux = (768 * 128 + 2 * 128) + (128 * 768 * 25 + 2 * 768) + (768 * 1000 + 1000)
    expected = 27_161_264 - aux + 8 * 2048 + 8
    assert expected == 23_850_960
    assert sum(p.numel() for p in model.parameters()) == expected
    # The TF graph has 94 conv2d_params constants, each with its batchnorm (torch-fidelity's
    # utils/util_convert_inception_weights.py maps all 94 to these modules) plus softmax/{weights,
    # biases}: 94 * 5 + 2 = 472 tensors in a file without num_batches_tracked counters.
    convs = [m for m in model.modules() if isinstance(m, inception.BasicConv2d)]
    assert len(convs) == 94 and len(published_layout()) == 472
    buffers = dict(model.named_buffers())
    assert len(buffers) == 3 * 94
    bn_channels = sum(c.bn.num_features for c in convs)
    assert sum(v.numel() for k, v in buffers.items() if "running" in k) == 2 * bn_channels
    assert model.fc.weight.shape == (1008, 2048) and model.fc.bias.shape == (1008,)
    assert model.feature_dims == {"pool": 2048, "logits": 1008}


@pytest.mark.parametrize("block, pool", [
    ("Mixed_5b", "avg"), ("Mixed_5c", "avg"), ("Mixed_5d", "avg"),
    ("Mixed_6b", "avg"), ("Mixed_6c", "avg"), ("Mixed_6d", "avg"), ("Mixed_6e", "avg"),
    ("Mixed_7b", "avg"), ("Mixed_7c", "max"),
])
def test_branch_pool_is_tf_pooling(model, block, pool):
    """branch_pool reads TF's SAME average (padding not counted), or a max pool in Mixed_7c."""
    module = getattr(model, block)
    cin = module.branch_pool.conv.in_channels
    x = torch.rand(1, cin, 5, 5, generator=torch.Generator().manual_seed(1))
    seen = []
    handle = module.branch_pool.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        with torch.no_grad():
            module(x)
    finally:
        handle.remove()
    if pool == "avg":
        expected = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        torchvision_style = F.avg_pool2d(x, 3, stride=1, padding=1)
        assert not torch.allclose(seen[0], torchvision_style)
    else:
        expected = F.max_pool2d(x, 3, stride=1, padding=1)
    torch.testing.assert_close(seen[0], expected, rtol=0, atol=0)


# ---- Forward -------------------------------------------------------------------------------------


def test_preprocess_is_pytorch_fids(model):
    x = images(2, 3, 299, seed=2)
    # At 299x299 the bilinear resize is the identity: only /255 and the map to [-1, 1] remain.
    torch.testing.assert_close(model.preprocess(x), 2 * x.float() / 255 - 1)
    small = images(2, 3, 32, seed=3)
    expected = F.interpolate(small.float() / 255, size=(299, 299), mode="bilinear",
                             align_corners=False) * 2 - 1
    torch.testing.assert_close(model.preprocess(small), expected)
    assert inception.RESIZER == "torch-bilinear-299"
    with pytest.raises(ValueError, match="uint8"):
        model.preprocess(small.float())
    with pytest.raises(ValueError, match="uint8"):
        model.preprocess(images(1, 4, 8, seed=0))


def test_forward_pool_and_unbiased_logits(model):
    x = images(2, 3, 32, seed=4)
    with torch.no_grad():
        out = model(x)
        assert set(out) == {"pool", "logits"}
        assert out["pool"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
        assert out["pool"].dtype == out["logits"].dtype == torch.float32
        assert out["pool"].min() >= 0 and out["pool"].max() > 0  # after ReLU + average pool
        torch.testing.assert_close(out["logits"], out["pool"] @ model.fc.weight.t())
        # The bias never reaches the logits (IS convention of softmax/logits/MatMul).
        saved = model.fc.bias.clone()
        try:
            model.fc.bias.fill_(1e4)
            again = model(x)
        finally:
            model.fc.bias.copy_(saved)
    torch.testing.assert_close(again["logits"], out["logits"], rtol=0, atol=0)


def pytorch_fid_blocks(model, x):
    """pytorch-fid's ``InceptionV3.blocks`` written out by hand over the same modules: block 0 =
    Conv2d_1a..2b + max pool, block 1 = Conv2d_3b, 4a + max pool, block 2 = Mixed_5b..Mixed_6e,
    block 3 = Mixed_7a..7c + adaptive average pool; ``fid_score`` then averages any block output
    that is not 1x1 to 1x1."""
    pool = torch.nn.MaxPool2d(kernel_size=3, stride=2)
    blocks = [
        [model.Conv2d_1a_3x3, model.Conv2d_2a_3x3, model.Conv2d_2b_3x3, pool],
        [model.Conv2d_3b_1x1, model.Conv2d_4a_3x3, pool],
        [model.Mixed_5b, model.Mixed_5c, model.Mixed_5d, model.Mixed_6a, model.Mixed_6b,
         model.Mixed_6c, model.Mixed_6d, model.Mixed_6e],
        [model.Mixed_7a, model.Mixed_7b, model.Mixed_7c, torch.nn.AdaptiveAvgPool2d((1, 1))],
    ]
    out = {}
    for dim, block in zip((64, 192, 768, 2048), blocks):
        for layer in block:
            x = layer(x)
        out[dim] = F.adaptive_avg_pool2d(x, output_size=(1, 1)).squeeze(3).squeeze(2)
    return out


def test_block_features_are_pytorch_fids_dims(model):
    x = images(2, 3, 40, seed=6)
    with torch.no_grad():
        ref = pytorch_fid_blocks(model, model.preprocess(x))
        got = model(x, outputs=("block64", "block192", "block768", "pool", "logits"))
        assert list(got) == ["block64", "block192", "block768", "pool", "logits"]
        for dim, key in ((64, "block64"), (192, "block192"), (768, "block768"), (2048, "pool")):
            assert got[key].shape == (2, dim)
            torch.testing.assert_close(got[key], ref[dim], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(got["logits"], model(x)["logits"])
        assert inception.BLOCK_DIMS == (64, 192, 768, 2048)
        with pytest.raises(ValueError, match="no output"):
            model(x, outputs=("block1000",))


def test_block_features_stop_at_the_deepest_block_asked(model):
    ran = []
    hooks = [getattr(model, n).register_forward_hook(lambda m, a, o, n=n: ran.append(n))
             for n in ("Conv2d_4a_3x3", "Mixed_6e", "Mixed_7a")]
    try:
        with torch.no_grad():
            out = model(images(1, 3, 32, seed=7), outputs=("block192",))
        assert set(out) == {"block192"} and ran == ["Conv2d_4a_3x3"]
        ran.clear()
        with torch.no_grad():
            model(images(1, 3, 32, seed=7), outputs=("block768",))
        assert ran == ["Conv2d_4a_3x3", "Mixed_6e"]
    finally:
        for h in hooks:
            h.remove()


def test_gray_images_are_repeated_to_rgb(model):
    gray = images(2, 1, 28, seed=5)
    with torch.no_grad():
        a = model(gray)
        b = model(gray.repeat(1, 3, 1, 1))
    assert a["pool"].shape == (2, 2048) and a["logits"].shape == (2, 1008)
    torch.testing.assert_close(a["pool"], b["pool"])


# ---- Loading -------------------------------------------------------------------------------------


def test_explicit_weights_round_trip(model, weights_file, accept):
    accept(weights_file)
    loaded = inception.load_inception(weights=weights_file, download=False)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert_same_weights(loaded, model)
    assert loaded.weights_sha256 == inception.weights_hash(weights_file)
    assert len(loaded.weights_sha256) == 64


def test_cache_dir_round_trip(model, weights_file, accept, tmp_path):
    cached = tmp_path / "cache" / inception.WEIGHTS_FILENAME
    cached.parent.mkdir()
    cached.write_bytes(weights_file.read_bytes())
    assert inception.default_weights_path(cached.parent) == cached
    accept(cached)
    loaded = inception.load_inception(cache_dir=cached.parent, download=False)
    assert_same_weights(loaded, model)
    assert loaded.weights_path == str(cached)


@pytest.mark.parametrize("with_metadata", [False, True])
def test_file_without_num_batches_tracked_loads_strictly(model, tmp_path, accept, with_metadata):
    # A file converted key by key from the TF graph (as torch-fidelity's converter writes it) has no
    # counters; with a module's version metadata attached, torch itself would refuse it as strict.
    state = model.state_dict()
    for key in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[key]
    if not with_metadata:
        state = dict(state)
    path = tmp_path / inception.WEIGHTS_FILENAME
    torch.save(state, path)
    accept(path)
    assert_same_weights(inception.load_inception(weights=path), model)


def test_wrong_layout_is_a_one_line_error(model, tmp_path, accept):
    state = model.state_dict()
    state["fc.weight"] = torch.zeros(1000, 2048)
    del state["Mixed_7c.branch_pool.conv.weight"]
    path = tmp_path / inception.WEIGHTS_FILENAME
    torch.save(state, path)
    accept(path)
    with pytest.raises(GanzooError) as err:
        inception.load_inception(weights=path)
    msg = str(err.value)
    assert "\n" not in msg and "fc.weight" in msg and "Mixed_7c.branch_pool.conv.weight" in msg


def test_local_file_with_wrong_hash_is_rejected(weights_file):
    with pytest.raises(GanzooError, match="is not the published 6726825d0af5f729") as err:
        inception.load_inception(weights=weights_file)
    assert "\n" not in str(err.value)


def test_a_file_sharing_only_the_8_digit_prefix_is_rejected(weights_file, monkeypatch):
    """The full published SHA-256 is checked, not the 32-bit prefix in the file name."""
    own = inception.weights_hash(weights_file)
    other = own[:-1] + ("0" if own[-1] != "0" else "1")  # same first 63 hex digits, another file
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", other)
    with pytest.raises(GanzooError, match=f"is not the published {other}"):
        inception.load_inception(weights=weights_file)


def test_the_pinned_hash_is_a_full_sha256_of_the_named_file():
    assert len(inception.WEIGHTS_SHA256) == 64 and int(inception.WEIGHTS_SHA256, 16) >= 0
    assert inception.WEIGHTS_SHA256.startswith(inception.WEIGHTS_FILENAME.rsplit("-", 1)[1][:8])


def test_missing_explicit_weights(tmp_path):
    path = tmp_path / "nowhere.pth"
    with pytest.raises(GanzooError) as err:
        inception.load_inception(weights=path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and inception.WEIGHTS_URL in msg


def assert_says_what_to_fetch(msg: str, target: Path) -> None:
    assert "\n" not in msg
    assert inception.WEIGHTS_URL in msg
    assert str(target) in msg
    assert "--inception-weights PATH" in msg


def test_missing_weights_without_download(tmp_path):
    target = tmp_path / "cache" / inception.WEIGHTS_FILENAME
    with pytest.raises(GanzooError) as err:
        inception.load_inception(cache_dir=tmp_path / "cache", download=False)
    assert_says_what_to_fetch(str(err.value), target)
    assert "download is off" in str(err.value)


def test_offline_download_fails_clearly(tmp_path, monkeypatch):
    def offline(url, timeout):
        assert url == inception.WEIGHTS_URL and timeout <= 60
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(inception, "_open_url", offline)
    cache = tmp_path / "cache"
    with pytest.raises(GanzooError) as err:
        inception.load_inception(cache_dir=cache)
    assert_says_what_to_fetch(str(err.value), cache / inception.WEIGHTS_FILENAME)
    assert "name resolution" in str(err.value)
    assert not cache.exists() or not any(cache.iterdir())


def test_download_with_wrong_hash_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(inception, "_open_url", lambda url, timeout: io.BytesIO(b"<html>no</html>"))
    cache = tmp_path / "cache"
    with pytest.raises(GanzooError, match="expected 6726825d0af5f729") as err:
        inception.load_inception(cache_dir=cache)
    assert_says_what_to_fetch(str(err.value), cache / inception.WEIGHTS_FILENAME)
    assert list(cache.iterdir()) == []  # neither the file nor its .part temp file


def test_download_is_verified_and_cached(model, weights_file, accept, tmp_path, monkeypatch):
    payload = weights_file.read_bytes()
    calls = []

    def serve(url, timeout):
        calls.append(url)
        return io.BytesIO(payload)
    monkeypatch.setattr(inception, "_open_url", serve)
    accept(weights_file)
    cache = tmp_path / "cache"
    loaded = inception.load_inception(cache_dir=cache)
    assert calls == [inception.WEIGHTS_URL]
    assert [p.name for p in cache.iterdir()] == [inception.WEIGHTS_FILENAME]
    assert_same_weights(loaded, model)
    inception.load_inception(cache_dir=cache)  # second call: from the cache, no download
    assert len(calls) == 1
