"""Tests for bridges.data: IDX reading/writing, search order, checksums, embedded sets, splits."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import re
import time
from pathlib import Path

import numpy as np
import pytest

from bridges import data as D
from bridges.data import catalog, locate
from ratebased.registry import Registry

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
# Per-class counts of the official MNIST files (LeCun et al. 1998).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
STEMS = tuple(D.IDX_FILES.values())


@pytest.fixture(autouse=True)
def _isolated_search(monkeypatch, tmp_path):
    """No test sees the caller's $BIOPLAUSIBLE_DATA, ./data or /usr/share/datasets."""
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    # The search reads bridges.data.locate's constant; the package's copy is patched alike
    # because the tests below read D.SYSTEM_DATA_DIR.
    monkeypatch.setattr(locate, "SYSTEM_DATA_DIR", tmp_path / "system-datasets")
    monkeypatch.setattr(D, "SYSTEM_DATA_DIR", tmp_path / "system-datasets")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def fake_idx_set(directory: Path, *, n_train=12, n_test=6, fill=0, gz=(True, True, False, False), seed=0):
    """Write four small MNIST-shaped IDX files; returns the uint8 arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 3).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 3).astype(np.uint8),
    }
    arrays["train-images-idx3-ubyte"][:, 0, 0] = fill  # marks which directory was read
    for stem, compress in zip(STEMS, gz):
        D.write_idx(directory / (stem + (".gz" if compress else "")), arrays[stem])
    return arrays


def idx_bytes(array: np.ndarray) -> bytes:
    """Reference IDX encoding written independently of write_idx."""
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}[array.dtype.type]
    head = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ---------------------------------------------------------------------------------- IDX format
@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "raw"])
@pytest.mark.parametrize(
    "dtype,shape",
    [
        (np.uint8, (5, 3, 4)),
        (np.int8, (7,)),
        (np.int16, (2, 3)),
        (np.int32, (4, 1)),
        (np.float32, (3, 2, 2)),
        (np.float64, (6,)),
    ],
    ids=["uint8-3d", "int8-1d", "int16-2d", "int32-2d", "float32-3d", "float64-1d"],
)
def test_idx_round_trip(tmp_path, dtype, shape, compressed):
    rng = np.random.default_rng(1)
    arr = (rng.normal(size=shape) * 100).astype(dtype)
    path = tmp_path / ("a-idx" + (".gz" if compressed else ""))
    D.write_idx(path, arr)
    back = D.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, arr)
    # The bytes on disk agree with an independent encoder.
    on_disk = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    assert on_disk == idx_bytes(arr)


def test_gz_and_raw_read_identically(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    D.write_idx(tmp_path / "x.gz", arr)
    (tmp_path / "x").write_bytes(gzip.decompress((tmp_path / "x.gz").read_bytes()))
    np.testing.assert_array_equal(D.read_idx(tmp_path / "x.gz"), D.read_idx(tmp_path / "x"))


def test_multi_member_gzip_is_read_whole(tmp_path):
    content = idx_bytes(np.arange(10, dtype=np.uint8))
    path = tmp_path / "m.gz"
    path.write_bytes(gzip.compress(content[:7]) + gzip.compress(content[7:]))
    assert D.read_idx(path).tolist() == list(range(10))


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match=r"uint16.*no IDX code.*uint8"):
        D.write_idx(tmp_path / "u16", np.zeros(3, dtype=np.uint16))
    with pytest.raises(ValueError, match=r"1\.\.255 dimensions"):
        D.write_idx(tmp_path / "scalar", np.array(3, dtype=np.uint8))


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))
CORRUPT = {
    "empty": (b"", r"too short"),
    "bad-magic": (b"\x01\x00" + GOOD[2:], r"bad IDX magic"),
    "bad-dtype-code": (GOOD[:2] + b"\x07" + GOOD[3:], r"unknown IDX dtype code 0x07"),
    "zero-dims": (b"\x00\x00\x08\x00", r"0 dimensions"),
    "truncated-header": (GOOD[:9], r"truncated IDX header"),
    "truncated-payload": (GOOD[:-1], r"payload truncated: 11 bytes .* need exactly 12"),
    "trailing-bytes": (GOOD + b"\x00", r"trailing bytes: 13 bytes"),
    "dims-lie": (GOOD[:4] + (4).to_bytes(4, "big") + GOOD[8:], r"payload truncated"),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(CORRUPT), ids=list(CORRUPT))
def test_corrupt_idx_raises_value_error_naming_file(tmp_path, case, compressed):
    content, pattern = CORRUPT[case]
    path = tmp_path / f"broken-{case}-idx2-ubyte"
    path.write_bytes(gzip.compress(content) if compressed else content)
    with pytest.raises(ValueError, match=pattern) as info:
        D.read_idx(path)
    assert str(path) in str(info.value)
    assert "fresh copy" in str(info.value)


@pytest.mark.parametrize(
    "mangle,pattern",
    [
        (lambda b: b[: len(b) // 2], r"truncated gzip stream"),
        (lambda b: b[:-4], r"truncated gzip stream"),  # only the size trailer missing
        (lambda b: b[:10] + bytes(len(b) - 10), r"corrupt gzip stream"),
        (lambda b: b + b"junk", r"garbage after the gzip stream"),
    ],
    ids=["half", "no-trailer", "zeroed-body", "trailing-junk"],
)
def test_broken_gzip_raises_value_error_naming_file(tmp_path, mangle, pattern):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    D.write_idx(path, np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8))
    path.write_bytes(mangle(path.read_bytes()))
    with pytest.raises(ValueError, match=pattern) as info:
        D.read_idx(path)
    assert str(path) in str(info.value)


def test_rewritten_file_is_not_served_from_cache(tmp_path):
    path = tmp_path / "c-idx1-ubyte"
    D.write_idx(path, np.array([1, 2, 3], dtype=np.uint8))
    assert D.read_idx(path).tolist() == [1, 2, 3]
    D.write_idx(path, np.array([4, 5, 6], dtype=np.uint8))  # same size, new inode
    assert D.read_idx(path).tolist() == [4, 5, 6]


# ------------------------------------------------------------------------------ search order
def test_missing_files_error_lists_dirs_files_and_remedies(tmp_path, monkeypatch):
    env = tmp_path / "env"
    monkeypatch.setenv(D.ENV_VAR, str(env))
    partial = env / "kmnist"
    fake_idx_set(partial)
    (partial / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as info:
        D.load_dataset("kmnist")
    msg = str(info.value)
    searched = [partial, Path.cwd() / "data" / "kmnist", D.SYSTEM_DATA_DIR / "kmnist"]
    positions = [msg.index(str(d) + " ") for d in searched]
    assert positions == sorted(positions), "directories must be listed in search order"
    assert "missing t10k-labels-idx1-ubyte[.gz]" in msg
    assert "train-images-idx3-ubyte[.gz]" not in msg.split("\n")[1]  # present files not listed
    assert msg.count("does not exist") == 2
    assert "root=" in msg and "download=True" in msg and "--download" in msg
    assert "apt-get" not in msg


def test_missing_fashion_mnist_mentions_debian_package(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"apt-get install dataset-fashion-mnist"):
        D.load_dataset("fashion-mnist", root=tmp_path / "nowhere")


def test_explicit_root_is_the_only_place_searched(tmp_path, monkeypatch):
    fake_idx_set(tmp_path / "env" / "mnist", fill=2)
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        D.find_data_dir("mnist", root=tmp_path / "empty")
    assert str(tmp_path / "env") not in str(info.value)
    assert str(tmp_path / "empty") in str(info.value)


def test_search_order_root_then_env_then_cwd(tmp_path, monkeypatch):
    root, env, cwd_data = tmp_path / "root", tmp_path / "env", Path.cwd() / "data"
    fake_idx_set(root / "mnist", fill=1)
    fake_idx_set(env / "mnist", fill=2)
    fake_idx_set(cwd_data / "mnist", fill=3)
    fake_idx_set(D.SYSTEM_DATA_DIR / "mnist", fill=4)
    monkeypatch.setenv(D.ENV_VAR, str(env))

    assert D.find_data_dir("mnist", root) == root / "mnist"  # parent of <name>/
    assert D.find_data_dir("mnist", root / "mnist") == root / "mnist"  # the directory itself
    assert D.find_data_dir("mnist") == env / "mnist"
    monkeypatch.delenv(D.ENV_VAR)
    assert D.find_data_dir("mnist") == cwd_data / "mnist"
    for stem in STEMS[:1]:
        (cwd_data / "mnist" / f"{stem}.gz").unlink()  # incomplete -> skipped, not mixed
    assert D.find_data_dir("mnist") == D.SYSTEM_DATA_DIR / "mnist"

    # The loaded pixels come from the directory found (fill value / 255).
    monkeypatch.setenv(D.ENV_VAR, str(env))
    assert D.load_dataset("mnist", root).x_train[0, 0, 0, 0] == np.float32(1 / 255)
    assert D.load_dataset("mnist").x_train[0, 0, 0, 0] == np.float32(2 / 255)


# --------------------------------------------------------------------------- loading fake sets
def test_fake_mnist_loads_in_convention(tmp_path):
    arrays = fake_idx_set(tmp_path, n_train=12, n_test=6)
    ds = D.load_dataset("MNIST", tmp_path)  # name is case-insensitive
    assert ds.name == "mnist" and ds.n_classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (6, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.x_train[:, 0], arrays["train-images-idx3-ubyte"] / np.float32(255))
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.metadata["source"] == str(tmp_path) and ds.metadata["split"] == "official"
    with pytest.raises(TypeError):
        ds.metadata["source"] = "elsewhere"  # read-only provenance
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"


def test_label_count_mismatch_names_both_files(tmp_path):
    fake_idx_set(tmp_path, gz=(False,) * 4)
    D.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"5 labels .* 6 images") as info:
        D.load_dataset("mnist", tmp_path)
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in str(info.value)


@pytest.mark.parametrize(
    "stem,array,pattern",
    [
        ("train-images-idx3-ubyte", np.zeros((12, 27, 28), np.uint8), r"shape \(N, 28, 28\)"),
        ("train-images-idx3-ubyte", np.zeros((12, 28, 28), np.float32), r"expected uint8 images"),
        ("train-labels-idx1-ubyte", np.full(12, 10, np.uint8), r"labels span \[10, 10\], outside 0\.\.9"),
        ("train-labels-idx1-ubyte", np.zeros((12, 1), np.uint8), r"1-D integer label file"),
    ],
    ids=["image-27x28", "float-images", "label-10", "2d-labels"],
)
def test_wrong_content_raises_value_error_naming_file(tmp_path, stem, array, pattern):
    fake_idx_set(tmp_path, gz=(False,) * 4)
    D.write_idx(tmp_path / stem, array)
    with pytest.raises(ValueError, match=pattern) as info:
        D.load_dataset("mnist", tmp_path)
    assert str(tmp_path / stem) in str(info.value)


def test_idx_set_rejects_test_fraction(tmp_path):
    fake_idx_set(tmp_path)
    with pytest.raises(ValueError, match=r"fixed official train/test split.*train_val_split"):
        D.load_dataset("mnist", tmp_path, test_fraction=0.2)


# ---------------------------------------------------------------------------------- checksums
def _use_spec(monkeypatch, spec: D.DatasetSpec) -> None:
    """Make ``spec`` the registered entry of its name for one test (a patched copy of the registry)."""
    specs = Registry(D.DATASET_SPECS.kind)
    for name, old in D.DATASET_SPECS.items():
        specs.register(name, spec if name == spec.name else old)
    monkeypatch.setattr(catalog, "DATASET_SPECS", specs)


def _table_for(directory: Path) -> dict[str, D.FileChecksum]:
    return {
        stem: D.FileChecksum(raw=hashlib.md5(D._file_content(D._present(directory, stem))).hexdigest())
        for stem in STEMS
    }


def test_verify_detects_flipped_byte(tmp_path, monkeypatch):
    fake_idx_set(tmp_path, gz=(True, False, False, False))
    spec = dataclasses.replace(D.DATASET_SPECS.get("mnist"), checksums=_table_for(tmp_path))
    _use_spec(monkeypatch, spec)
    assert D.load_dataset("mnist", tmp_path, verify=True).metadata["verified_md5"] is True

    path = tmp_path / "t10k-images-idx3-ubyte"
    content = bytearray(path.read_bytes())
    content[-1] ^= 0x01  # structurally still valid
    path.write_bytes(bytes(content))
    assert D.load_dataset("mnist", tmp_path, verify=False).x_test.shape == (6, 1, 28, 28)
    with pytest.raises(ValueError, match=r"MD5 of the uncompressed content .* expected") as info:
        D.load_dataset("mnist", tmp_path, verify=True)
    assert str(path) in str(info.value)


def test_raw_checksum_survives_recompression_gz_checksum_does_not(tmp_path):
    arr = np.arange(100, dtype=np.uint8)
    content = idx_bytes(arr)
    path = tmp_path / "l-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=0))
    gz_md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert D.verify_md5(path, D.FileChecksum(raw=hashlib.md5(content).hexdigest())) is True
    assert D.verify_md5(path, D.FileChecksum(gz=gz_md5)) is True
    path.write_bytes(gzip.compress(content, compresslevel=9, mtime=1))  # same content, new bytes
    assert D.verify_md5(path, D.FileChecksum(raw=hashlib.md5(content).hexdigest(), gz=gz_md5)) is True
    with pytest.raises(ValueError, match=r"MD5 of the gzip file"):
        D.verify_md5(path, D.FileChecksum(gz=gz_md5))


def test_verify_without_applicable_checksum_warns(tmp_path):
    path = tmp_path / "l-idx1-ubyte"
    D.write_idx(path, np.arange(3, dtype=np.uint8))
    with pytest.warns(UserWarning, match=r"no MD5 known"):
        assert D.verify_md5(path, D.FileChecksum(gz="0" * 32)) is False


def test_registry_checksums_cover_every_idx_file():
    for name in ("mnist", "fashion-mnist", "kmnist"):
        spec = D.DATASET_SPECS.get(name)
        assert set(spec.checksums) == set(STEMS), name
        assert all(re.fullmatch(r"[0-9a-f]{32}", c.raw or c.gz) for c in spec.checksums.values()), name
    assert D.DATASET_SPECS.get("mnist").checksums["train-images-idx3-ubyte"].raw == "6bbc9ace898e44ae57da46a324031adb"


# ----------------------------------------------------------------------------------- download
def test_download_from_file_mirror_with_checks(tmp_path):
    mirror = tmp_path / "mirror"
    fake_idx_set(mirror, gz=(True,) * 4)
    table = _table_for(mirror)
    dest = tmp_path / "dest" / "mnist"
    # One file already present is kept; the three others are fetched.
    D.write_idx(dest / "t10k-labels-idx1-ubyte", D.read_idx(mirror / "t10k-labels-idx1-ubyte.gz"))
    bad_mirror = (tmp_path / "nothing-here").as_uri() + "/"
    out = D.download("mnist", dest, mirrors=(bad_mirror, mirror.as_uri() + "/"), checksums=table)
    assert out == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(["t10k-labels-idx1-ubyte", *(f"{s}.gz" for s in STEMS[:3])])
    for stem in STEMS[:3]:
        assert (dest / f"{stem}.gz").read_bytes() == (mirror / f"{stem}.gz").read_bytes()


def test_download_rejects_checksum_mismatch_and_writes_nothing(tmp_path):
    mirror = tmp_path / "mirror"
    fake_idx_set(mirror, gz=(True,) * 4)
    table = {s: D.FileChecksum(raw="0" * 32) for s in STEMS}
    with pytest.raises(FileNotFoundError, match=r"MD5 of the uncompressed content") as info:
        D.download("mnist", tmp_path / "dest", mirrors=(mirror.as_uri() + "/",), checksums=table)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert not any((tmp_path / "dest").glob("*-ubyte*"))


def test_load_dataset_download_true_fetches_into_root(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    fake_idx_set(mirror, gz=(True,) * 4, n_train=9)
    spec = dataclasses.replace(
        D.DATASET_SPECS.get("kmnist"), mirrors=(mirror.as_uri() + "/",), checksums=_table_for(mirror)
    )
    _use_spec(monkeypatch, spec)
    root = tmp_path / "root"
    with pytest.raises(FileNotFoundError):
        D.load_dataset("kmnist", root)  # download defaults to False
    ds = D.load_dataset("kmnist", root, download=True, verify=True)
    assert ds.metadata["source"] == str(root / "kmnist") and ds.x_train.shape == (9, 1, 28, 28)
    assert ds.class_names[:3] == ("o", "ki", "su")


def test_failed_download_reports_search_and_urls(tmp_path, monkeypatch):
    spec = dataclasses.replace(D.DATASET_SPECS.get("mnist"), mirrors=((tmp_path / "void").as_uri() + "/",))
    _use_spec(monkeypatch, spec)
    with pytest.raises(FileNotFoundError) as info:
        D.load_dataset("mnist", tmp_path / "root", download=True)
    msg = str(info.value)
    assert "Directories searched" in msg and str(tmp_path / "root") in msg
    assert (tmp_path / "void").as_uri() + "/train-images-idx3-ubyte.gz" in msg


# ------------------------------------------------------------------------------- real MNIST
@pytest.fixture(scope="module")
def mnist():
    if not MNIST_DIR.is_dir():
        pytest.fail(
            f"real MNIST not found at {MNIST_DIR}: the tests expect the shared data directory "
            f"beside the clone (<parent>/shared/data/mnist with the four IDX .gz files)"
        )
    start = time.perf_counter()
    ds = D.load_dataset("mnist", MNIST_DIR, verify=True)
    return ds, time.perf_counter() - start


def test_real_mnist_shapes_counts_and_range(mnist):
    ds, seconds = mnist
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    assert np.bincount(ds.y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(ds.y_test).tolist() == MNIST_TEST_COUNTS
    assert ds.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert ds.y_test[:5].tolist() == [7, 2, 1, 0, 4]
    # Mean pixel intensity of the training set, 33.318 / 255 (well-known normalisation constant).
    assert float(ds.x_train.mean(dtype=np.float64)) == pytest.approx(0.1306605, abs=1e-6)
    assert ds.metadata["verified_md5"] is True
    assert seconds < 10.0, f"loading + verifying MNIST took {seconds:.1f} s"


def test_real_mnist_binary_subsets(mnist):
    ds, _ = mnist
    pair = D.subset(ds, (4, 9))
    assert pair.n_classes == 2 and pair.class_names == ("4", "9")
    assert np.bincount(pair.y_train).tolist() == [MNIST_TRAIN_COUNTS[4], MNIST_TRAIN_COUNTS[9]]
    assert np.bincount(pair.y_test).tolist() == [MNIST_TEST_COUNTS[4], MNIST_TEST_COUNTS[9]]
    zero_one = D.subset(ds, ("0", "1"))
    assert len(zero_one.y_train) == MNIST_TRAIN_COUNTS[0] + MNIST_TRAIN_COUNTS[1]
    np.testing.assert_array_equal(zero_one.x_train[0], ds.x_train[1])  # first 0 is item 1


# ------------------------------------------------------------------------------ embedded sets
def test_iris_split_and_scaling():
    ds = D.load_dataset("iris", seed=0)
    assert ds.x_train.shape == (112, 4) and ds.x_test.shape == (38, 4)
    assert ds.class_names == ("setosa", "versicolor", "virginica") and ds.input_shape == (4,)
    assert np.bincount(ds.y_test).tolist() == [13, 13, 12]  # stratified, largest remainder
    np.testing.assert_array_equal(ds.x_train.min(axis=0), np.zeros(4, np.float32))
    np.testing.assert_array_equal(ds.x_train.max(axis=0), np.ones(4, np.float32))
    assert 0.0 <= float(ds.x_test.min()) and float(ds.x_test.max()) <= 1.0
    assert ds.metadata["split_seed"] == 0 and ds.metadata["test_fraction"] == 0.25


def test_iris_scaling_matches_sklearn_minmax():
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import MinMaxScaler

    ds = D.load_dataset("iris", seed=3, test_fraction=0.2)
    full = load_iris()
    split = D.train_val_split(full.data, full.target, 0.2, seed=3)
    scaler = MinMaxScaler().fit(split.x_train)
    np.testing.assert_allclose(ds.x_train, scaler.transform(split.x_train), atol=1e-6)
    np.testing.assert_allclose(ds.x_test, np.clip(scaler.transform(split.x_val), 0, 1), atol=1e-6)


def test_digits_load():
    ds = D.load_dataset("digits")
    assert ds.x_train.shape == (1348, 1, 8, 8) and ds.x_test.shape == (449, 1, 8, 8)
    assert ds.n_classes == 10 and ds.y_train.dtype == np.int64
    assert float(ds.x_train.max()) == 1.0 and float(ds.x_train.min()) == 0.0
    values = np.unique(np.concatenate([ds.x_train.ravel(), ds.x_test.ravel()]) * 16)
    np.testing.assert_allclose(values, np.arange(17), atol=1e-5)
    assert ds.flat().x_train.shape == (1348, 64)


def test_embedded_split_is_deterministic_in_seed():
    a, b, c = (D.load_dataset("digits", seed=s) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_test, c.x_test)


def test_embedded_set_warns_about_ignored_root(tmp_path):
    with pytest.warns(UserWarning, match=r"iris is embedded .* ignored"):
        D.load_dataset("iris", root=tmp_path)
    with pytest.raises(ValueError, match=r"embedded"):
        D.find_data_dir("iris")


# --------------------------------------------------------------------------------- registry
def test_registry_names():
    assert D.DATASETS == ("mnist", "fashion-mnist", "kmnist", "iris", "digits", "cifar10", "svhn")
    assert all(n == n.lower() for n in D.DATASETS)


@pytest.mark.parametrize("bad", ["cifar100", "fashion_mnist", ""], ids=["cifar100", "underscore", "empty"])
def test_unknown_name_lists_valid_names(bad):
    with pytest.raises(ValueError, match=r"unknown data set") as info:
        D.load_dataset(bad)
    for name in D.DATASETS:
        assert name in str(info.value)


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match=r"registered twice.*mnist"):
        D._register(D.DATASET_SPECS.get("mnist"))


def test_old_registry_name_is_a_deprecated_read_only_mapping():
    with pytest.warns(DeprecationWarning, match=r"REGISTRY is deprecated; use bridges\.data\.DATASET_SPECS"):
        from bridges.data import REGISTRY
    assert list(REGISTRY) == list(D.DATASETS)
    assert REGISTRY["mnist"] is D.DATASET_SPECS.get("mnist") and REGISTRY.get("cifar100") is None
    with pytest.raises(TypeError):
        REGISTRY["mnist"] = REGISTRY["kmnist"]  # entries are added only through the registry


# --------------------------------------------------------------------------------- subsets
@pytest.fixture(scope="module")
def iris():
    return D.load_dataset("iris")


def test_subset_relabels_in_given_order(iris):
    by_name = D.subset(iris, ("versicolor", "VIRGINICA"))
    by_label = D.subset(iris, (1, 2))
    np.testing.assert_array_equal(by_name.x_train, by_label.x_train)
    np.testing.assert_array_equal(by_name.y_test, by_label.y_test)
    assert by_name.class_names == ("versicolor", "virginica") and by_name.n_classes == 2
    np.testing.assert_array_equal(by_name.x_train, iris.x_train[iris.y_train > 0])
    np.testing.assert_array_equal(by_name.y_train, iris.y_train[iris.y_train > 0] - 1)

    swapped = D.subset(iris, (2, 1))
    np.testing.assert_array_equal(swapped.y_train, 1 - by_label.y_train)
    assert swapped.metadata["classes"] == (2, 1)
    # Composed subsets remember the original labels.
    assert D.subset(swapped, ("versicolor", "virginica")).metadata["classes"] == (1, 2)


@pytest.mark.parametrize(
    "classes,pattern",
    [
        ((1, 1), r"same class twice"),
        ((1,), r"at least two"),
        ((0, 3), r"label 3 out of range.*0\.\.2"),
        (("versicolor", "rose"), r"unknown class name 'rose'.*setosa, versicolor, virginica"),
        ("versicolor", r"must be a sequence"),
        ((1.0, 2.0), r"neither a label"),
    ],
    ids=["duplicate", "single", "out-of-range", "unknown-name", "bare-string", "floats"],
)
def test_subset_rejects_bad_classes(iris, classes, pattern):
    with pytest.raises(ValueError, match=pattern):
        D.subset(iris, classes)


# ----------------------------------------------------------------------------------- splits
def test_train_val_split_deterministic_disjoint_stratified():
    y = np.repeat(np.arange(3), [50, 30, 20])
    x = np.arange(100, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    a = D.train_val_split(x, y, 0.2, seed=5)
    b = D.train_val_split(x, y, 0.2, seed=5)
    c = D.train_val_split(x, y, 0.2, seed=6)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, c.x_val)
    ids_tr, ids_val = a.x_train[:, 0].astype(int), a.x_val[:, 0].astype(int)
    assert len(set(ids_tr) & set(ids_val)) == 0 and len(ids_tr) + len(ids_val) == 100
    assert np.bincount(a.y_val).tolist() == [10, 6, 4]
    np.testing.assert_array_equal(a.y_val, y[ids_val])  # x and y stay paired
    assert np.all(np.diff(ids_val) > 0)  # original order kept


def test_train_val_split_unstratified_size():
    y = np.zeros(10, dtype=np.int64)
    s = D.train_val_split(np.arange(10), y, 0.35, seed=0, stratify=False)
    assert len(s.y_val) == 4 and len(s.y_train) == 6  # 3.5 rounds up


@pytest.mark.parametrize(
    "x,y,frac,pattern",
    [
        (np.zeros(4), np.zeros(4, int), 0.0, r"strictly between 0 and 1"),
        (np.zeros(4), np.zeros(4, int), 1.0, r"strictly between 0 and 1"),
        (np.zeros(4), np.zeros(4, int), 0.1, r"both parts"),
        (np.zeros(4), np.zeros(3, int), 0.5, r"x of shape \(N, \.\.\.\)"),
    ],
    ids=["zero", "one", "empty-val", "length-mismatch"],
)
def test_train_val_split_rejects_bad_input(x, y, frac, pattern):
    with pytest.raises(ValueError, match=pattern):
        D.train_val_split(x, y, frac, seed=0)


def test_limit_stratified_and_deterministic():
    ds = D.load_dataset("digits")
    a = D.limit(ds, n_train=100, n_test=30, seed=1)
    b = D.limit(ds, n_train=100, n_test=30, seed=1)
    assert a.x_train.shape == (100, 1, 8, 8) and a.x_test.shape == (30, 1, 8, 8)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    counts = np.bincount(a.y_train, minlength=10)
    expected = 100 * np.bincount(ds.y_train) / len(ds.y_train)
    assert np.all(np.abs(counts - expected) < 1.0)
    only_train = D.limit(ds, n_train=10)
    assert len(only_train.y_test) == len(ds.y_test)
    with pytest.raises(ValueError, match=r"n_train=2000 must be an integer in 1\.\.1348"):
        D.limit(ds, n_train=2000)


# ------------------------------------------------------------------------ Dataset contract
def test_dataset_validates_contents(iris):
    with pytest.raises(ValueError, match=r"float32"):
        dataclasses.replace(iris, x_train=iris.x_train.astype(np.float64))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        dataclasses.replace(iris, x_test=iris.x_test * 2)
    bad = iris.x_train.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"finite"):
        dataclasses.replace(iris, x_train=bad)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        dataclasses.replace(iris, y_train=iris.y_train + 1)
    with pytest.raises(ValueError, match=r"class_names"):
        dataclasses.replace(iris, n_classes=4)


def test_flat_is_a_view():
    ds = D.load_dataset("digits")
    flat = ds.flat()
    assert flat.input_shape == (64,) and flat.n_features == ds.n_features == 64
    assert np.shares_memory(flat.x_train, ds.x_train)
    np.testing.assert_array_equal(flat.x_test[3], ds.x_test[3].ravel())


def test_to_torch(iris):
    import torch

    xtr, ytr, xte, yte = D.to_torch(iris)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert tuple(xte.shape) == iris.x_test.shape
    np.testing.assert_array_equal(xtr.numpy(), iris.x_train)
    np.testing.assert_array_equal(yte.numpy(), iris.y_test)
