"""CIFAR-10 and SVHN loaders on tiny files written in the real formats; normalisation; augmentation.

The files are generated here independently of the library: CIFAR-10 batches are pickled dicts with the
real keys (b'data' uint8 (N, 3072): 1024 R, 1024 G, 1024 B; b'labels'; b'batch_label'; b'filenames'),
SVHN files are MATLAB v5 written by scipy.io.savemat ('X' uint8 (32, 32, 3, N), 'y' (N, 1), 10 = digit 0).
No network: downloads come from file:// mirrors or a mocked urlopen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import pickle
import pickletools
import struct
import tarfile
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from bridges import data as D
from bridges.data import catalog, cifar_svhn, locate
from ratebased.registry import Registry

BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
FIX = "Delete it and fetch a fresh copy"


@pytest.fixture(autouse=True)
def _isolated_search(monkeypatch, tmp_path):
    """No test sees the caller's $BIOPLAUSIBLE_DATA, ./data or /usr/share/datasets."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIR", tmp_path / "system-datasets")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


# ------------------------------------------------------------------------- file generators
class Py2Pickler(pickle._Pickler):
    """What Python 2's cPickle wrote for the official batches: every str as BINSTRING (bytes when read
    with encoding='bytes'), the array's globals under numpy.core.multiarray, no _codecs."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_str8(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        n = len(data)
        self.write((pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_str8
    dispatch[str] = save_str8

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core.", "numpy.core.")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def dumps(obj, protocol) -> bytes:
    if protocol != "py2":
        return pickle.dumps(obj, protocol=protocol)
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def cifar_batch_bytes(data: np.ndarray, labels, protocol="py2") -> bytes:
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return dumps(batch, protocol)


def write_cifar(directory: Path, *, n_batch=4, n_test=5, seed=0, marker=0, protocol="py2") -> dict:
    """Five training batches, the test batch and batches.meta; returns the raw arrays written."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    raw = {}
    for name, n in [*((b, n_batch) for b in BATCHES), ("test_batch", n_test)]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        data[:, 0] = marker  # red channel, pixel (0, 0): marks which directory was read
        labels = rng.integers(0, 10, n)
        (directory / name).write_bytes(cifar_batch_bytes(data, labels, protocol))
        raw[name] = (data, labels)
    meta = {b"num_cases_per_batch": n_batch, b"label_names": [c.encode() for c in cifar_svhn.CIFAR10_CLASSES]}
    meta[b"num_vis"] = 3072
    (directory / "batches.meta").write_bytes(dumps(meta, protocol))
    return raw


def svhn_mat(path: Path, x_hwcn: np.ndarray, y: np.ndarray) -> None:
    scipy.io.savemat(path, {"X": x_hwcn, "y": y.reshape(-1, 1)}, format="5")


def write_svhn(directory: Path, *, n_train=7, n_test=4, seed=0, marker=0) -> dict:
    """train_32x32.mat and test_32x32.mat; labels 1..10 (10 = digit 0); returns the raw arrays."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    raw = {}
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        x[0, 0, 0, :] = marker
        y = rng.integers(1, 11, n).astype(np.uint8)
        y[0] = 10  # at least one zero digit
        svhn_mat(directory / name, x, y)
        raw[name] = (x, y)
    return raw


WRITERS = {"cifar10": write_cifar, "svhn": write_svhn}


def _use_spec(monkeypatch, spec: D.DatasetSpec) -> None:
    """Make ``spec`` the registered entry of its name for one test (a patched copy of the registry)."""
    specs = Registry(D.DATASET_SPECS.kind)
    for name, old in D.DATASET_SPECS.items():
        specs.register(name, spec if name == spec.name else old)
    monkeypatch.setattr(catalog, "DATASET_SPECS", specs)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ registry
def test_registered_with_shapes_classes_and_checksums():
    assert {"cifar10", "svhn"} <= set(D.DATASETS)
    cifar, svhn = D.DATASET_SPECS.get("CIFAR10"), D.DATASET_SPECS.get("svhn")
    assert cifar.input_shape == svhn.input_shape == (3, 32, 32)
    assert cifar.class_names[:3] == ("airplane", "automobile", "bird") and cifar.class_names[-1] == "truck"
    assert svhn.class_names == tuple("0123456789")
    assert set(cifar.checksums) == {*BATCHES, "test_batch", "batches.meta", "cifar-10-python.tar.gz"}
    assert cifar.checksums["cifar-10-python.tar.gz"].gz == "c58f30108f718f92721af3b95e74349a"
    assert svhn.checksums["train_32x32.mat"].raw == "e26dedcc434d2e4c54c9b2d4a06d8373"
    assert svhn.checksums["test_32x32.mat"].raw == "eb5a983be6a315427106f1b164d9cef3"


# ------------------------------------------------------------------------------- loading
def test_generated_batches_have_the_official_python2_structure():
    out = io.StringIO()
    pickletools.dis(cifar_batch_bytes(np.zeros((1, 3072), np.uint8), [1]), out=out)
    ops = out.getvalue()
    assert "GLOBAL     'numpy.core.multiarray _reconstruct'" in ops and "BINSTRING" in ops
    assert "UNICODE" not in ops and "_codecs" not in ops


@pytest.mark.parametrize("protocol", ["py2", 2, 4, 5], ids=["python2-cpickle", "py3-pickle2", "pickle4", "pickle5"])
def test_cifar10_reads_generated_batches(tmp_path, protocol):
    raw = write_cifar(tmp_path / "c", n_batch=3, n_test=4, protocol=protocol)
    ds = D.load_dataset("cifar10", tmp_path / "c")
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    data = np.concatenate([raw[b][0] for b in BATCHES])
    labels = np.concatenate([raw[b][1] for b in BATCHES])
    np.testing.assert_array_equal(ds.y_train, labels)  # batches in order 1..5
    np.testing.assert_array_equal(ds.y_test, raw["test_batch"][1])
    # Row layout: value c * 1024 + h * 32 + w is channel c, row h, column w.
    for i, c, h, w in [(0, 0, 0, 1), (4, 1, 5, 7), (14, 2, 31, 31), (7, 2, 0, 0)]:
        assert ds.x_train[i, c, h, w] == np.float32(data[i, c * 1024 + h * 32 + w]) / np.float32(255)
    np.testing.assert_array_equal(ds.x_test * 255, raw["test_batch"][0].reshape(4, 3, 32, 32).astype(np.float32))
    assert ds.metadata["source"] == str(tmp_path / "c") and ds.metadata["split"] == "official"
    assert ds.metadata["augmentation"] == {"pad": 4, "flip": True}


def test_svhn_reads_generated_mat_and_maps_label_10_to_0(tmp_path):
    raw = write_svhn(tmp_path / "s", n_train=9, n_test=5)
    ds = D.load_dataset("svhn", tmp_path / "s")
    assert ds.x_train.shape == (9, 3, 32, 32) and ds.x_test.shape == (5, 3, 32, 32)
    x, y = raw["train_32x32.mat"]
    np.testing.assert_array_equal(ds.y_train, np.where(y == 10, 0, y))
    assert ds.y_train[0] == 0 and set(ds.y_train.tolist()) <= set(range(10))
    for n, c, h, w in [(0, 0, 0, 1), (3, 1, 5, 7), (8, 2, 31, 30)]:  # X[h, w, c, n] -> x[n, c, h, w]
        assert ds.x_train[n, c, h, w] * 255 == pytest.approx(float(x[h, w, c, n]), abs=1e-4)
    assert ds.metadata["augmentation"] == {"pad": 4, "flip": False}


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_metadata_mean_std_are_the_training_split_statistics(tmp_path, name):
    WRITERS[name](tmp_path / name)
    ds = D.load_dataset(name, tmp_path / name)
    x = ds.x_train.astype(np.float64)  # independent: float64 over all pixels of each channel
    np.testing.assert_allclose(ds.metadata["mean"], x.mean(axis=(0, 2, 3)), rtol=0, atol=1e-7)
    np.testing.assert_allclose(ds.metadata["std"], x.std(axis=(0, 2, 3)), rtol=0, atol=1e-7)
    z = D.normalise(ds.x_train, ds.metadata["mean"], ds.metadata["std"])
    assert z.dtype == np.float32 and z.shape == ds.x_train.shape
    np.testing.assert_allclose(z.astype(np.float64).mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.astype(np.float64).std(axis=(0, 2, 3)), 1.0, atol=1e-5)
    # Test images are normalised with the *training* statistics, so theirs differ from (0, 1).
    zt = D.normalise(ds.x_test, ds.metadata["mean"], ds.metadata["std"]).astype(np.float64)
    assert np.abs(zt.mean(axis=(0, 2, 3))).max() > 1e-3


def test_channel_stats_uint8_histogram_equals_direct_float64():
    x = np.random.default_rng(3).integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    x[:, 2] //= 4  # a darker channel
    mean, std = D.channel_stats(x)
    f = x.astype(np.float64) / 255.0
    np.testing.assert_allclose(mean, f.mean(axis=(0, 2, 3)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, f.std(axis=(0, 2, 3)), rtol=0, atol=1e-12)
    fmean, fstd = D.channel_stats(f.astype(np.float32))  # the float path agrees to float32 precision
    np.testing.assert_allclose(fmean, mean, atol=1e-7)
    np.testing.assert_allclose(fstd, std, atol=1e-7)


def test_normalise_torch_matches_numpy_and_rejects_bad_stats():
    import torch

    x = np.random.default_rng(0).random((2, 3, 4, 4), dtype=np.float32)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    expect = (x - np.float32(mean).reshape(1, 3, 1, 1)) / np.float32(std).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(D.normalise(x, mean, std), expect, rtol=1e-6)
    np.testing.assert_allclose(D.normalise(torch.from_numpy(x), mean, std).numpy(), expect, rtol=1e-6)
    with pytest.raises(ValueError, match=r"positive"):
        D.normalise(x, mean, (0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match=r"2 values for 3 channels"):
        D.normalise(x, mean[:2], std)


def test_official_split_rejects_test_fraction(tmp_path):
    write_svhn(tmp_path)
    with pytest.raises(ValueError, match=r"fixed official train/test split"):
        D.load_dataset("svhn", tmp_path, test_fraction=0.2)


# ----------------------------------------------------------------------- corrupt files
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _replace_batch(path: Path, data, labels) -> None:
    path.write_bytes(cifar_batch_bytes(np.asarray(data), labels))


class _Evil:
    """Unpickling this would create a file: the loader must refuse to import its global."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


CIFAR_DAMAGE = {
    "truncated": ("data_batch_3", _truncate, r"not a readable CIFAR pickle"),
    "wrong-shape": (
        "data_batch_2",
        lambda p: _replace_batch(p, np.zeros((4, 3071), np.uint8), [0] * 4),
        r"shape \(N, 3072\)",
    ),
    "float-data": (
        "test_batch",
        lambda p: _replace_batch(p, np.zeros((5, 3072), np.float32), [0] * 5),
        r"must be a uint8 array",
    ),
    "label-count": (
        "data_batch_1",
        lambda p: _replace_batch(p, np.zeros((4, 3072), np.uint8), [0] * 3),
        r"3 labels for 4 images",
    ),
    "label-range": (
        "data_batch_5",
        lambda p: _replace_batch(p, np.zeros((4, 3072), np.uint8), [0, 1, 2, 10]),
        r"outside 0\.\.9",
    ),
    "missing-key": (
        "data_batch_4",
        lambda p: p.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8)}, protocol=2)),
        r"lacks the key\(s\) \['labels'\]",
    ),
    "not-a-dict": ("data_batch_1", lambda p: p.write_bytes(pickle.dumps([1, 2], protocol=2)), r"not a CIFAR batch"),
    "meta-names": (
        "batches.meta",
        lambda p: p.write_bytes(pickle.dumps({b"label_names": [b"a"] * 10}, protocol=2)),
        r"label names .* are not CIFAR-10's",
    ),
    "garbage": ("test_batch", lambda p: p.write_bytes(b"<html>404 Not Found</html>"), r"not a readable CIFAR pickle"),
}


@pytest.mark.parametrize("damage", CIFAR_DAMAGE.values(), ids=CIFAR_DAMAGE.keys())
def test_corrupt_cifar_file_is_one_line_naming_it(tmp_path, damage):
    fname, spoil, pattern = damage
    write_cifar(tmp_path)
    spoil(tmp_path / fname)
    with pytest.raises(ValueError, match=pattern) as info:
        D.load_dataset("cifar10", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / fname) in msg and FIX in msg and "\n" not in msg


def test_cifar_pickle_that_imports_a_global_is_refused_without_running_it(tmp_path):
    write_cifar(tmp_path)
    victim = tmp_path / "created-by-unpickling"
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(victim), b"labels": []}, protocol=2))
    with pytest.raises(ValueError, match=r"refuses global \S+ \(a CIFAR batch holds only arrays\)") as info:
        D.load_dataset("cifar10", tmp_path)
    assert str(tmp_path / "data_batch_1") in str(info.value)
    assert not victim.exists()


def _svhn_replace(path: Path, x, y) -> None:
    path.unlink()
    scipy.io.savemat(path, {"X": x, "y": y}, format="5")


SVHN_DAMAGE = {
    "truncated": ("train_32x32.mat", _truncate, r"not a readable MATLAB v5 file"),
    "garbage": ("test_32x32.mat", lambda p: p.write_bytes(b"\x00" * 50), r"not a readable MATLAB v5 file"),
    "gray-images": (
        "train_32x32.mat",
        lambda p: _svhn_replace(p, np.zeros((32, 32, 1, 2), np.uint8), np.ones((2, 1))),
        r"'X' must be uint8 of shape \(32, 32, 3, N\)",
    ),
    "nchw-layout": (
        "test_32x32.mat",
        lambda p: _svhn_replace(p, np.zeros((2, 3, 32, 32), np.uint8), np.ones((2, 1))),
        r"'X' must be uint8 of shape \(32, 32, 3, N\)",
    ),
    "label-0": (
        "train_32x32.mat",
        lambda p: _svhn_replace(p, np.zeros((32, 32, 3, 2), np.uint8), np.array([[0], [3]])),
        r"labels span \[0, 3\]; SVHN labels are 1\.\.10",
    ),
    "label-count": (
        "test_32x32.mat",
        lambda p: _svhn_replace(p, np.zeros((32, 32, 3, 2), np.uint8), np.ones((3, 1))),
        r"'y' must hold 2 labels",
    ),
    "missing-y": (
        "train_32x32.mat",
        lambda p: (p.unlink(), scipy.io.savemat(p, {"X": np.zeros((32, 32, 3, 2), np.uint8)})),
        r"must hold 'X' and 'y'",
    ),
}


@pytest.mark.parametrize("damage", SVHN_DAMAGE.values(), ids=SVHN_DAMAGE.keys())
def test_corrupt_svhn_file_is_one_line_naming_it(tmp_path, damage):
    fname, spoil, pattern = damage
    write_svhn(tmp_path)
    spoil(tmp_path / fname)
    with pytest.raises(ValueError, match=pattern) as info:
        D.load_dataset("svhn", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / fname) in msg and FIX in msg and "\n" not in msg


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_verify_checks_every_file_md5(tmp_path, monkeypatch, name):
    WRITERS[name](tmp_path)
    files = D.DATASET_SPECS.get(name).checksums
    # The generated files are not the official ones: verify=True names the first file it checks.
    first = cifar_svhn.CIFAR10_FILES[0] if name == "cifar10" else cifar_svhn.SVHN_FILES[0]
    with pytest.raises(ValueError, match=r"MD5 is [0-9a-f]{32}, expected " + files[first].raw) as info:
        D.load_dataset(name, tmp_path, verify=True)
    assert str(tmp_path / first) in str(info.value) and "\n" not in str(info.value)
    table = {f: D.FileChecksum(raw=_md5(tmp_path / f)) for f in files if (tmp_path / f).is_file()}
    _use_spec(monkeypatch, dataclasses.replace(D.DATASET_SPECS.get(name), checksums=table))
    assert D.load_dataset(name, tmp_path, verify=True).metadata["verified_md5"] is True
    last = sorted(table)[-1]
    data = bytearray((tmp_path / last).read_bytes())
    data[-1] ^= 0xFF  # one flipped byte
    (tmp_path / last).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"MD5 is"):
        D.load_dataset(name, tmp_path, verify=True)


# ----------------------------------------------------------------------- discovery order
def _marker(ds) -> int:
    return int(round(float(ds.x_train[0, 0, 0, 0]) * 255))


@pytest.mark.parametrize("name", ["cifar10", "svhn"])
def test_discovery_order_root_then_env_then_cwd_then_system(tmp_path, monkeypatch, name):
    write = WRITERS[name]
    places = {
        "root": tmp_path / "explicit",
        "env": tmp_path / "env" / name,
        "cwd": Path.cwd() / "data" / name,
        "system": tmp_path / "system-datasets" / name,
    }
    for k, place in enumerate(places.values()):
        write(place, marker=10 * (k + 1))
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "env"))
    assert _marker(D.load_dataset(name, places["root"])) == 10  # explicit root beats the env variable
    assert D.find_data_dir(name, places["root"]) == places["root"]
    assert _marker(D.load_dataset(name)) == 20  # env beats ./data and the system folder
    assert D.find_data_dir(name) == places["env"]
    monkeypatch.delenv(D.ENV_VAR)
    assert _marker(D.load_dataset(name)) == 30 and D.find_data_dir(name) == places["cwd"]
    for f in places["cwd"].iterdir():  # an incomplete directory is skipped, never mixed
        f.unlink()
        break
    assert _marker(D.load_dataset(name)) == 40 and D.find_data_dir(name) == places["system"]
    # An explicit root that lacks the files is an error, not a fallback to the places that have them.
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match=r"files not found") as info:
        D.load_dataset(name, tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value) and str(places["env"]) not in str(info.value)


def test_cifar10_found_in_the_archive_folder(tmp_path, monkeypatch):
    write_cifar(tmp_path / "root" / "cifar10" / "cifar-10-batches-py", marker=7)
    assert D.find_data_dir("cifar10", tmp_path / "root") == tmp_path / "root" / "cifar10" / "cifar-10-batches-py"
    write_cifar(tmp_path / "env" / "cifar10" / "cifar-10-batches-py", marker=9)
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "env"))
    assert _marker(D.load_dataset("cifar10")) == 9
    assert _marker(D.load_dataset("cifar10", tmp_path / "root" / "cifar10")) == 7


def test_missing_files_message_lists_search_and_files(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "train_32x32.mat").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as info:
        D.find_data_dir("svhn", tmp_path / "half")
    msg = str(info.value)
    assert f"{tmp_path / 'half'}  (root argument): missing test_32x32.mat" in msg
    assert "train_32x32.mat, test_32x32.mat" in msg and "download=True" in msg


# ---------------------------------------------------------------------------- downloads
def _cifar_archive(path: Path, source: Path, extra: dict[str, bytes] | None = None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for f in sorted(source.iterdir()):
            tar.add(f, arcname=f"cifar-10-batches-py/{f.name}")
        for arcname, data in (extra or {}).items():
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _cifar_mirror(tmp_path: Path, extra=None) -> tuple[str, dict[str, D.FileChecksum], Path]:
    source = tmp_path / "source"
    write_cifar(source, marker=5)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _cifar_archive(mirror / "cifar-10-python.tar.gz", source, extra)
    table = {f.name: D.FileChecksum(raw=_md5(f)) for f in source.iterdir()}
    table["cifar-10-python.tar.gz"] = D.FileChecksum(gz=_md5(mirror / "cifar-10-python.tar.gz"))
    return mirror.as_uri() + "/", table, source


def test_cifar10_download_checks_md5_and_extracts_only_the_seven_files(tmp_path):
    extra = {"cifar-10-batches-py/readme.html": b"<html/>", "../escape": b"x"}
    url, table, source = _cifar_mirror(tmp_path, extra)
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    out = D.download("cifar10", tmp_path / "dest", mirrors=(dead, url), checksums=table)
    assert out == tmp_path / "dest" / "cifar-10-batches-py"
    assert sorted(p.name for p in out.iterdir()) == sorted(cifar_svhn.CIFAR10_FILES)
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["cifar-10-batches-py"]  # no archive left
    for f in cifar_svhn.CIFAR10_FILES:
        assert (out / f).read_bytes() == (source / f).read_bytes()
    assert not (tmp_path / "escape").exists()


def test_cifar10_load_with_download_true_fetches_into_root(tmp_path, monkeypatch):
    url, table, _ = _cifar_mirror(tmp_path)
    _use_spec(monkeypatch, dataclasses.replace(D.DATASET_SPECS.get("cifar10"), mirrors=(url,), checksums=table))
    with pytest.raises(FileNotFoundError):
        D.load_dataset("cifar10", tmp_path / "root")  # download defaults to False
    ds = D.load_dataset("cifar10", tmp_path / "root", download=True, verify=True)
    assert ds.metadata["source"] == str(tmp_path / "root" / "cifar10" / "cifar-10-batches-py")
    assert _marker(ds) == 5 and ds.metadata["verified_md5"] is True


@pytest.mark.parametrize("bad", ["archive", "member"], ids=["archive-md5", "member-md5"])
def test_cifar10_download_with_bad_md5_is_a_value_error_and_writes_nothing(tmp_path, bad):
    url, table, _ = _cifar_mirror(tmp_path)
    name = "cifar-10-python.tar.gz" if bad == "archive" else "data_batch_4"
    table[name] = D.FileChecksum(gz="0" * 32) if bad == "archive" else D.FileChecksum(raw="0" * 32)
    with pytest.raises(ValueError, match=r"download rejected") as info:
        D.download("cifar10", tmp_path / "dest", mirrors=(url,), checksums=table)
    msg = str(info.value)
    assert f"MD5 of {name} is" in msg and "expected " + "0" * 32 in msg and "\n" not in msg
    assert not any(p.is_file() for p in (tmp_path / "dest").rglob("*"))  # nor temporary files


def test_cifar10_truncated_archive_without_md5_is_rejected(tmp_path):
    url, table, _ = _cifar_mirror(tmp_path)
    _truncate(tmp_path / "mirror" / "cifar-10-python.tar.gz")
    del table["cifar-10-python.tar.gz"]
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz is not a complete CIFAR archive"):
        D.download("cifar10", tmp_path / "dest", mirrors=(url,), checksums=table)


def test_unreachable_mirrors_are_file_not_found_listing_urls(tmp_path, monkeypatch):
    dead = (tmp_path / "void").as_uri() + "/"
    _use_spec(monkeypatch, dataclasses.replace(D.DATASET_SPECS.get("svhn"), mirrors=(dead,)))
    with pytest.raises(FileNotFoundError, match=r"download into .* failed") as info:
        D.load_dataset("svhn", tmp_path / "root", download=True)
    assert "Directories searched" in str(info.value) and str(tmp_path / "root") in str(info.value)
    with pytest.raises(FileNotFoundError) as info:
        D.download("svhn", tmp_path / "dest", mirrors=(dead,), checksums={})
    assert dead + "train_32x32.mat" in str(info.value) and dead + "test_32x32.mat" in str(info.value)


def test_svhn_download_from_file_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    write_svhn(mirror, marker=3)
    table = {f: D.FileChecksum(raw=_md5(mirror / f)) for f in cifar_svhn.SVHN_FILES}
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "test_32x32.mat").write_bytes((mirror / "test_32x32.mat").read_bytes())  # present: kept
    assert D.download("svhn", dest, mirrors=(mirror.as_uri() + "/",), checksums=table) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(cifar_svhn.SVHN_FILES)
    assert _marker(D.load_dataset("svhn", dest)) == 3


def test_svhn_download_bad_md5_with_mocked_urlopen(tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_svhn(src)
    seen = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    def fake_urlopen(url, timeout):
        seen.append(url)
        return Response((src / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    table = {"train_32x32.mat": D.FileChecksum(raw=_md5(src / "train_32x32.mat"))}
    table["test_32x32.mat"] = D.FileChecksum(raw="f" * 32)
    with pytest.raises(ValueError, match=r"MD5 of test_32x32\.mat is [0-9a-f]{32}, expected f{32}") as info:
        D.download("svhn", tmp_path / "dest", checksums=table)  # the registry's mirror, mocked
    assert seen == [
        "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
        "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
    ]
    assert "\n" not in str(info.value)
    # The file that passed is kept; the rejected one left nothing behind (no temporary file either).
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["train_32x32.mat"]


# --------------------------------------------------------------------------- augmentation
def _reference_crop_flip(x: np.ndarray, dy, dx, flip, pad: int) -> np.ndarray:
    """Independent per-image loop: np.pad, slice, mirror."""
    out = np.empty_like(x)
    h, w = x.shape[2:]
    for i in range(x.shape[0]):
        p = np.pad(x[i], ((0, 0), (pad, pad), (pad, pad)))
        crop = p[:, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = crop[:, :, ::-1] if flip[i] else crop
    return out


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((64, 3, 32, 32), dtype=np.float32)


def test_augmentation_same_seed_same_crops_and_equal_to_reference(images):
    aug = D.Augmentation(pad=4, flip=True)
    a, b, c = aug(images, rng=11), aug(images, rng=11), aug(images, rng=12)
    assert a.shape == images.shape and a.dtype == images.dtype
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    d = aug.draw(len(images), rng=11)
    np.testing.assert_array_equal(a, _reference_crop_flip(images, d.dy, d.dx, d.flip, 4))
    # A running generator gives each batch new draws, reproducibly from the run's seed.
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    first = [aug(images[:8], r1) for _ in range(3)]
    np.testing.assert_array_equal(np.stack(first), np.stack([aug(images[:8], r2) for _ in range(3)]))
    assert not np.array_equal(first[0], first[1])


def test_augmentation_draw_statistics():
    n = 4000
    d = D.Augmentation(pad=4, flip=True).draw(n, rng=0)
    assert set(d.dy.tolist()) == set(range(9)) == set(d.dx.tolist())  # 0..2*pad, all reached
    # Flip probability 1/2: the count is Binomial(4000, 0.5), sd 31.6; 4 sd bounds.
    assert abs(int(d.flip.sum()) - n // 2) < 4 * 31.7
    assert abs(float(d.dy.mean()) - 4.0) < 4 * np.sqrt((81 - 1) / 12 / n)  # discrete uniform 0..8


def test_augmentation_flips_only_where_allowed(images):
    no_flip = D.Augmentation(pad=4, flip=False)
    d = no_flip.draw(len(images), rng=5)
    assert not d.flip.any()
    np.testing.assert_array_equal(no_flip(images, rng=5), _reference_crop_flip(images, d.dy, d.dx, d.flip, 4))
    # Same seed: the same crops with or without flips (flips are drawn after the offsets).
    with_flip = D.Augmentation(pad=4, flip=True).draw(len(images), rng=5)
    np.testing.assert_array_equal(with_flip.dy, d.dy)
    np.testing.assert_array_equal(with_flip.dx, d.dx)
    assert with_flip.flip.any()
    # Pad 0 without flips is the identity; pad 0 with a flip mirrors exactly.
    np.testing.assert_array_equal(D.Augmentation(pad=0, flip=False)(images, rng=1), images)
    mirrored = D.crop_flip(images[:2], D.CropFlip(np.zeros(2, int), np.zeros(2, int), np.array([True, False])), pad=0)
    np.testing.assert_array_equal(mirrored[0], images[0, :, :, ::-1])
    np.testing.assert_array_equal(mirrored[1], images[1])


def test_crop_pads_with_fill_outside_the_image(images):
    corner = D.CropFlip(np.array([0]), np.array([8]), np.array([False]))  # 4 rows above, 4 cols right
    out = D.crop_flip(images[:1], corner, pad=4, fill=0.0)
    assert np.all(out[0, :, :4, :] == 0.0) and np.all(out[0, :, :, 28:] == 0.0)
    np.testing.assert_array_equal(out[0, :, 4:, :28], images[0, :, :28, 4:])


def test_augmentation_torch_equals_numpy(images):
    import torch

    aug = D.Augmentation(pad=4, flip=True)
    out = aug(torch.from_numpy(images), rng=21)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == images.shape
    np.testing.assert_array_equal(out.numpy(), aug(images, rng=21))


@pytest.mark.parametrize("name,flip", [("cifar10", True), ("svhn", False)], ids=["cifar10-flips", "svhn-no-flips"])
def test_augmentation_for_dataset_follows_the_recorded_convention(tmp_path, name, flip):
    WRITERS[name](tmp_path)
    assert D.Augmentation.for_dataset(D.load_dataset(name, tmp_path)) == D.Augmentation(pad=4, flip=flip)


def test_augmentation_rejects_bad_input(images):
    with pytest.raises(ValueError, match=r"no augmentation convention"):
        D.Augmentation.for_dataset(types.SimpleNamespace(name="mnist", metadata={"scaling": "uint8 / 255"}))
    with pytest.raises(ValueError, match=r"pad must be a non-negative integer"):
        D.Augmentation(pad=-1)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        D.Augmentation()(images.reshape(64, -1), rng=0)
