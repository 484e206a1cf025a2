import numpy as np
import pytest
import tifffile

from noise2atom.errors import InputError
from noise2atom.io import check_frames, read_stack, stack_from_array, write_hspy, write_ome_zarr, write_tiff


def test_read_formats(tmp_path, rng):
    data = rng.integers(0, 1000, size=(3, 37, 31)).astype(np.uint16)
    np.save(tmp_path / "s.npy", data)
    tifffile.imwrite(tmp_path / "s.tif", data, photometric="minisblack")
    folder = tmp_path / "frames"
    folder.mkdir()
    import imageio.v3 as iio

    for i in (10, 2, 1):  # natural sort: 1, 2, 10
        iio.imwrite(folder / f"f{i}.png", data[i % 3])
    for p in (tmp_path / "s.npy", tmp_path / "s.tif"):
        s = read_stack(p)
        assert s.data.shape == (3, 37, 31) and s.data.dtype == np.float32
        assert s.saturation == 65535 and s.pixel_size is None
    s = read_stack(folder)
    np.testing.assert_array_equal(s.data, data[[1, 2, 1]])
    single = read_stack(folder / "f2.png")
    assert single.data.shape == (1, 37, 31)


def test_tiff_calibration_round_trip(tmp_path):
    p = write_tiff(tmp_path / "cal.tif", np.ones((2, 16, 16)), pixel_size=0.05, unit="nm", frame_time_s=0.1)
    s = read_stack(p)
    assert s.pixel_size == pytest.approx(0.05, rel=1e-5) and s.unit == "nm"
    assert s.frame_time_s == pytest.approx(0.1)


@pytest.mark.parametrize("make, match", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_text("hello"), "not a readable"),
    (lambda p: np.save(p, np.arange(5.0)), "1-D"),
    (lambda p: np.save(p, np.zeros((0, 8, 8))), "empty"),
    (lambda p: np.save(p, np.zeros((2, 2, 3, 8, 8))), "5-D"),
])
def test_bad_files(tmp_path, make, match):
    p = tmp_path / "bad.npy"
    if "readable" in match:
        p = tmp_path / "bad.tif"
    make(p)
    with pytest.raises(InputError, match=match) as e:
        read_stack(p)
    assert p.name in str(e.value)


def test_unknown_format_and_empty_folder(tmp_path):
    (tmp_path / "x.jpg2").write_text("")
    with pytest.raises(InputError, match="unknown image format"):
        read_stack(tmp_path / "x.jpg2")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no frames"):
        read_stack(tmp_path / "empty")


def test_nan_and_constant_frames():
    data = np.random.default_rng(0).random((3, 8, 8))
    data[1, 2, 2] = np.nan
    with pytest.raises(InputError, match="frame 1 contains NaN"):
        check_frames(stack_from_array(data))
    data[1, 2, 2] = np.inf
    with pytest.raises(InputError, match="NaN or Inf"):
        check_frames(stack_from_array(data))
    data[1] = 4.0
    with pytest.raises(InputError, match="frame 1 is constant"):
        check_frames(stack_from_array(data))


def test_write_never_overwrites(tmp_path):
    p = tmp_path / "out.tif"
    p.write_bytes(b"keep")
    with pytest.raises(InputError, match="exists"):
        write_tiff(p, np.zeros((1, 4, 4)))
    assert p.read_bytes() == b"keep"
    write_tiff(p, np.zeros((1, 4, 4)), overwrite=True)
    assert read_stack(p).data.shape == (1, 4, 4)
    assert not list(tmp_path.glob("*.partial"))


REAL = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
#: file -> (frames, side, pixel size in nm) as the shared data's README states them
REAL_FILES = {
    "sto-abf-movie-5frames.hspy": (5, 512, 0.0092),
    "sto-adf-1us.emd": (1, 1024, 0.0122),  # unit stored as 'n_m'
    "sto-adf.emi": (1, 1024, 0.0100),
    "sto-adf_1.ser": (1, 1024, 0.0100),
    "mos2-se-haadf.dm3": (1, 1024, 0.0127),
    "pt-carbon-15fps-512.png": (1, 512, None),
    "pt-carbon-150fps-128.png": (1, 128, None),
}


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_microscope_files_read_and_keep_their_calibration_through_tiff_and_hspy(tmp_path, name):
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{path} not present (the shared real data lives beside the repo)")
    frames, side, nm = REAL_FILES[name]
    s = read_stack(path)
    assert s.data.shape == (frames, side, side) and s.data.dtype == np.float32
    if nm is None:
        assert s.pixel_size is None and s.unit is None  # never a silent 1.0
    else:
        assert s.unit == "nm" and s.pixel_size == pytest.approx(nm, abs=5e-5)
        assert s.metadata["reader"].startswith("rsciio.")
    out = write_tiff(tmp_path / "out.tif", s.data[:, :64, :64], pixel_size=s.pixel_size, unit=s.unit,
                     frame_time_s=s.frame_time_s)
    out_h = write_hspy(tmp_path / "out.hspy", s.data[:, :64, :64], pixel_size=s.pixel_size, unit=s.unit,
                       frame_time_s=s.frame_time_s)
    for back in (read_stack(out), read_stack(out_h)):
        assert back.unit == s.unit
        assert (back.pixel_size is None) == (s.pixel_size is None)
        if s.pixel_size is not None:
            assert back.pixel_size == pytest.approx(s.pixel_size, rel=1e-6)
    np.testing.assert_array_equal(read_stack(out_h).data, s.data[:, :64, :64])
    try:
        import ome_zarr  # noqa: F401  (the [zarr] extra)
    except ImportError:
        return
    out_z = write_ome_zarr(tmp_path / "out.ome.zarr", s.data[:, :64, :64], pixel_size=s.pixel_size, unit=s.unit,
                           frame_time_s=s.frame_time_s)
    back = read_stack(out_z)
    assert back.unit == s.unit and back.frame_time_s == s.frame_time_s
    assert back.pixel_size == (None if s.pixel_size is None else pytest.approx(s.pixel_size, rel=1e-6))
    np.testing.assert_array_equal(back.data, s.data[:, :64, :64])


def test_ome_zarr_round_trip_keeps_calibration_and_reads_lazily(tmp_path, rng):
    pytest.importorskip("ome_zarr")
    from noise2atom.io import LazyFrames

    data = rng.random((7, 20, 30)).astype(np.float32)
    path = write_ome_zarr(tmp_path / "m.ome.zarr", data, pixel_size=0.5, unit="Å", frame_time_s=0.02,
                          processing={"model": "default"})
    eager, lazy = read_stack(path), read_stack(path, lazy=True)
    np.testing.assert_array_equal(eager.data, data)
    assert isinstance(lazy.data, LazyFrames)
    np.testing.assert_array_equal(lazy.data[2:5], data[2:5])
    for s in (eager, lazy):
        assert (s.pixel_size, s.unit, s.frame_time_s) == (0.5, "Å", pytest.approx(0.02))
    assert eager.metadata["noise2atom"]["processing"] == {"model": "default"}
    with pytest.raises(InputError, match="exists"):
        write_ome_zarr(path, data)
    single = read_stack(write_ome_zarr(tmp_path / "one.ome.zarr", data[0]))
    assert single.data.shape == (1, 20, 30) and single.pixel_size is None and single.unit is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ome.zarr", "one.ome.zarr"]  # no temporary folder
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.zarr: not a readable Zarr image"):
        read_stack(bad)


@pytest.mark.parametrize("raw, unit", [("n_m", "nm"), ("nm", "nm"), ("um", "µm"), ("\\u00B5m", "µm"), ("micron", "µm"),
                                        ("A", "Å"), ("pixel", None), ("<undefined>", None), ("", None), (None, None),
                                        ("furlong", "furlong")])
def test_unit_strings_are_normalised(raw, unit):
    from noise2atom.io.readers import normalize_unit

    assert normalize_unit(raw) == unit


def test_ome_tiff_calibration_is_read(tmp_path):
    p = tmp_path / "x.ome.tif"
    tifffile.imwrite(p, np.ones((2, 16, 16), np.uint16), metadata={"axes": "TYX", "PhysicalSizeX": 0.25,
                                                                   "PhysicalSizeXUnit": "nm",
                                                                   "PhysicalSizeY": 0.25, "TimeIncrement": 0.05})
    s = read_stack(p)
    assert s.pixel_size == pytest.approx(0.25) and s.unit == "nm" and s.frame_time_s == pytest.approx(0.05)


def test_microscope_formats_refuse_broken_files_naming_them(tmp_path):
    for suffix in (".dm4", ".emd", ".ser", ".hspy", ".mrc"):
        p = tmp_path / f"broken{suffix}"
        p.write_bytes(b"\x00\x01not really" * 10)
        with pytest.raises(InputError, match="broken") as e:
            read_stack(p)
        assert p.name in str(e.value)
