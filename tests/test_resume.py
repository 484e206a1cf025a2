"""Interrupted denoising resumes to the same file; outputs appear only when complete; a full disk and
a second writer are answered in one line (issue 6 items 2 and 5). Real subprocesses, real signals."""

import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile

from noise2atom import pretrained
from noise2atom.denoise_file import denoise_to_file
from noise2atom.errors import InputError
from noise2atom.io import LazyFrames, read_stack

pytestmark = pytest.mark.skipif(not pretrained.DEFAULT_FILE.exists(), reason="needs the pretrained default model")
CLI = [sys.executable, "-m", "noise2atom.cli", "denoise"]


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    """A 96-frame 64² arena movie (uint16 counts) with a pixel size, as a TIFF."""
    from noise2atom.data.arena import SynthConfig, synthesize

    folder = tmp_path_factory.mktemp("movie")
    m = synthesize(SynthConfig(frames=96, size=64, dose=2.0, seed=3))
    path = folder / "movie.tif"
    tifffile.imwrite(path, m.noisy.astype(np.uint16), imagej=True, resolution=(1 / 0.05, 1 / 0.05),
                     metadata={"axes": "TYX", "unit": "nm"})
    return path


@pytest.fixture(scope="module")
def reference(movie, tmp_path_factory):
    """The uninterrupted run's output."""
    out = tmp_path_factory.mktemp("ref") / "ref.tif"
    r = subprocess.run(CLI + [str(movie), "--out", str(out), "--chunk-frames", "8"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return tifffile.imread(out)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def _kill_after_chunks(cmd, parts, n_chunks: int, timeout: float = 120.0) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while len(list(parts.glob("chunk-*.npy"))) < n_chunks:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() - t0 < timeout
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_denoise_killed_with_sigkill_resumes_to_the_same_file(movie, reference, tmp_path):
    out, parts = tmp_path / "out.tif", tmp_path / "out.tif.parts"
    cmd = CLI + [str(movie), "--out", str(out), "--chunk-frames", "8"]
    _kill_after_chunks(cmd, parts, 3)
    assert not out.exists(), "a killed run left a file under the final name"
    done = len(list(parts.glob("chunk-*.npy")))
    assert 3 <= done < 12

    r = subprocess.run(cmd, capture_output=True, text=True)  # without --resume: refused, chunks kept
    assert r.returncode == 2 and "--resume" in _one_error_line(r.stderr)
    assert len(list(parts.glob("chunk-*.npy"))) >= done
    r = subprocess.run(cmd[:-2] + ["--chunk-frames", "16", "--resume"], capture_output=True, text=True)
    assert r.returncode == 2 and "chunk_frames" in _one_error_line(r.stderr)  # another command: not mixed in

    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(tifffile.imread(out), reference, atol=1e-6)
    assert read_stack(out).pixel_size == pytest.approx(0.05) and read_stack(out).unit == "nm"
    assert not parts.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


@pytest.mark.parametrize("support_frames,atom_frames", [(0, 0), (4, 8)])
def test_resumed_chunks_warm_up_on_the_frames_before_them(tmp_path, support_frames, atom_frames):
    """With context frames and a support (and atoms) averaged over past frames, a chunk resumed in the
    middle of the series gives what an uninterrupted run gives (it restarts on the frames before it;
    the settings left at 0 are chosen once, on the series' first frames, by the first run and the
    resumed one)."""
    from noise2atom.data.arena import SynthConfig, synthesize

    net = pretrained.load_default()
    assert net.config.model.context_frames > 0
    stack = read_stack(_npy(tmp_path / "m.npy", synthesize(SynthConfig(frames=30, size=64, dose=2, seed=4)).noisy))
    opts = dict(background="keep", background_frames=support_frames, atom_frames=atom_frames)
    full = tifffile.imread(denoise_to_file(net, stack, tmp_path / "full.tif", chunk_frames=5, **opts))

    done, resumed = _stopped_after_17_frames_and_resumed(net, stack, tmp_path, **opts)
    assert done == 3
    np.testing.assert_allclose(resumed, full, atol=1e-5)


def _stopped_after_17_frames_and_resumed(net, stack, tmp_path, **opts):
    """(chunks the stopped run left, the resumed run's output) for a run stopped after 17 frames."""
    seen = []

    def stop_after_17(i):
        seen.append(i)
        if len(seen) == 17:
            raise KeyboardInterrupt

    out = tmp_path / "cut.tif"
    with pytest.raises(KeyboardInterrupt):
        denoise_to_file(net, stack, out, chunk_frames=5, on_frame=stop_after_17, **opts)
    assert not out.exists()
    done = len(list((tmp_path / "cut.tif.parts").glob("chunk-*.npy")))
    return done, tifffile.imread(denoise_to_file(net, stack, out, chunk_frames=5, resume=True, **opts))


@pytest.mark.parametrize("window", [5, 0])
def test_resumed_chunks_of_atoms_averaged_over_centred_frames_match_one_pass(tmp_path, window):
    """The atoms averaged over frames before and after each frame: a resumed chunk reads the frames
    before it and after its run, and gives what one uninterrupted pass (and ``denoise``) gives; a
    window left at 0 is chosen once, on the series' first frames."""
    from noise2atom.data.arena import SynthConfig, synthesize

    net = pretrained.load_default()
    stack = read_stack(_npy(tmp_path / "m.npy", synthesize(SynthConfig(frames=30, size=64, dose=1, seed=4)).noisy))
    opts = dict(background="remove", atom_window=window)
    full = tifffile.imread(denoise_to_file(net, stack, tmp_path / "full.tif", chunk_frames=5, **opts))
    chosen = window or net.choose_atom_window(stack, atom_window=0)
    np.testing.assert_allclose(full, net.denoise(stack, background="remove", atom_window=chosen), atol=1e-5)
    assert chosen > 1 and not np.allclose(full, net.denoise(stack, background="remove", atom_window=1), atol=1e-3)
    done, resumed = _stopped_after_17_frames_and_resumed(net, stack, tmp_path, **opts)
    assert 1 <= done < 6
    np.testing.assert_allclose(resumed, full, atol=1e-5)


def _npy(path, arr):
    np.save(path, arr)
    return path


def test_the_support_choice_is_announced_before_it_runs_and_only_when_something_is_chosen(tmp_path, caplog):
    from noise2atom.data.arena import SynthConfig, synthesize

    net = pretrained.load_default()
    stack = read_stack(_npy(tmp_path / "m.npy", synthesize(SynthConfig(frames=5, size=48, dose=2, seed=4)).noisy))
    fixed = dict(background_frames=4, background_sigma_px=2.5, atom_frames=2, atom_power=1.5, atom_brightness="frame")
    with caplog.at_level("INFO", logger="noise2atom"):
        denoise_to_file(net, stack, tmp_path / "fixed.tif", background="keep", **fixed)
    assert "choosing how the support is kept" not in caplog.text
    assert "the support kept over 4 frames, blurred with σ 2.5 px" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="noise2atom"):
        denoise_to_file(net, stack, tmp_path / "chosen.tif", background="keep", **{**fixed, "atom_power": 0})
    said = caplog.text
    assert "choosing how the support is kept, on the first 5 frames" in said
    assert said.index("choosing how") < said.index("the support kept over")


def test_lazy_reading_leaves_the_frames_in_the_file(movie, tmp_path):
    stack = read_stack(movie, lazy=True)
    assert isinstance(stack.data, LazyFrames) and isinstance(stack.data._source, np.memmap)
    eager = read_stack(movie)
    np.testing.assert_array_equal(stack.data[3:7], eager.data[3:7])
    np.testing.assert_array_equal(stack.data[np.array([0, 9, 2])], eager.data[[0, 9, 2]])
    assert stack.pixel_size == eager.pixel_size and stack.saturation == eager.saturation == 65535
    npy = read_stack(_npy(tmp_path / "m.npy", eager.data), lazy=True)
    assert isinstance(npy.data._source, np.memmap)
    np.testing.assert_array_equal(np.asarray(npy.data), eager.data)


def test_two_processes_writing_one_output_cannot_corrupt_it(movie, reference, tmp_path):
    out = tmp_path / "same.tif"
    cmd = CLI + [str(movie), "--out", str(out), "--chunk-frames", "8"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results  # one wrote it; the other was refused in one line
    loser = next(err for rc, err in results if rc == 2)
    assert any(s in _one_error_line(loser) for s in ("another noise2atom process", "output exists", "another process"))
    np.testing.assert_allclose(tifffile.imread(out), reference, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.tif"]


def test_two_processes_writing_into_one_folder_each_get_their_file(movie, reference, tmp_path):
    outs = [tmp_path / "a.tif", tmp_path / "b.tif"]
    procs = [subprocess.Popen(CLI + [str(movie), "--out", str(o), "--chunk-frames", "8"], stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, text=True) for o in outs]
    for p in procs:
        assert p.wait() == 0, p.stderr.read()
    for o in outs:
        np.testing.assert_allclose(tifffile.imread(o), reference, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tif", "b.tif"]


def _file_size_limit(nbytes: int):
    def limit():  # a real EFBIG from the kernel, as a full disk gives ENOSPC; no SIGXFSZ kill
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file-size limits as a full disk: Linux")
@pytest.mark.parametrize("limit, kept", [(40_000, False), (400_000, True)])
def test_a_full_disk_leaves_no_partial_file_and_says_so(movie, reference, tmp_path, limit, kept):
    """A limit below one chunk (8 frames of 64² float32: 131 kB) fails at the first chunk; one above it
    fails when the 1.6 MB TIFF is assembled: either way one line, nothing under the final name, and --resume
    finishes once there is room."""
    out = tmp_path / "out.tif"
    cmd = CLI + [str(movie), "--out", str(out), "--chunk-frames", "8"]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=_file_size_limit(limit))
    assert r.returncode == 2
    line = _one_error_line(r.stderr)
    assert "disk full" in line and str(out) in line and "nothing was written under this name" in line
    assert not out.exists() and not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("**/*.tmp"))
    chunks = list((tmp_path / "out.tif.parts").glob("chunk-*.npy"))
    assert (len(chunks) == 12) == kept
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(tifffile.imread(out), reference, atol=1e-6)


def test_finished_output_is_not_redone_and_resume_without_a_stopped_run_just_runs(movie, reference, tmp_path):
    out = tmp_path / "o.tif"
    r = subprocess.run(CLI + [str(movie), "--out", str(out), "--resume", "--chunk-frames", "8"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(tifffile.imread(out), reference, atol=1e-6)
    before = out.stat().st_mtime_ns
    r = subprocess.run(CLI + [str(movie), "--out", str(out), "--resume"], capture_output=True, text=True)
    assert r.returncode == 2 and "exists" in _one_error_line(r.stderr) and out.stat().st_mtime_ns == before


def test_chunk_store_refuses_a_second_writer_in_process(tmp_path):
    from noise2atom.io.chunks import ChunkStore

    out = tmp_path / "x.tif"
    with ChunkStore(out, {"a": 1}):
        with pytest.raises(InputError, match="another noise2atom process"):
            with ChunkStore(out, {"a": 1}, resume=True):
                pass


def test_chunk_store_keeps_resumes_or_discards_a_stopped_runs_chunks(tmp_path):
    from noise2atom.io.chunks import ChunkStore

    out = tmp_path / "x.tif"
    with ChunkStore(out, {"a": 1}) as store:
        store.write(0, np.ones((2, 4, 4)))
    with pytest.raises(InputError, match="--resume"):  # neither option: refused, chunk kept
        ChunkStore(out, {"a": 1}).__enter__()
    with ChunkStore(out, {"a": 1}, resume=True) as store:
        assert store.done(0) and store.read(0).shape == (2, 4, 4)
    with pytest.raises(InputError, match="cannot resume: the stopped run had other a"):
        ChunkStore(out, {"a": 2}, resume=True).__enter__()
    with ChunkStore(out, {"a": 1}, overwrite=True) as store:  # start again
        assert not store.done(0)


def _dead_pid() -> int:
    """The id of a process that has ended (and was waited for)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.skipif(os.name != "posix", reason="no lock, so nothing is removed, without POSIX")
def test_a_killed_runs_temporary_files_are_removed_by_the_next_run_on_that_output(tmp_path):
    """What a process killed outright leaves (the final file's NAME.<pid>.partial, a file or an OME-Zarr
    folder, and a chunk's .tmp) is removed by the next run on that output; a live process's
    temporaries and other outputs' are not touched."""
    from noise2atom.io.chunks import ChunkStore

    out = tmp_path / "x.tif"
    with ChunkStore(out, {"a": 1}) as store:
        store.write(0, np.ones((2, 4, 4)))
    dead_file, dead_dir, dead_chunk = (_dead_pid() for _ in range(3))
    stale = [tmp_path / f"x.tif.{dead_file}.partial", tmp_path / f"x.tif.{dead_dir}.partial",
             tmp_path / "x.tif.parts" / f"chunk-000001.npy.{dead_chunk}.tmp"]
    stale[0].write_bytes(b"half a movie")
    (stale[1] / "0").mkdir(parents=True)
    (stale[1] / "0" / "c").write_bytes(b"a chunk")
    stale[2].write_bytes(b"half a chunk")
    kept = [tmp_path / f"x.tif.{os.getppid()}.partial",  # its process runs (this one's parent)
            tmp_path / f"y.tif.{dead_file}.partial",  # another output's
            tmp_path / "x.tif.notes.partial"]  # not a process's temporary name
    for p in kept:
        p.write_bytes(b"keep")
    with ChunkStore(out, {"a": 1}, resume=True) as store:
        assert sorted(store.removed) == sorted(stale) and store.done(0)
    assert not any(p.exists() for p in stale) and all(p.read_bytes() == b"keep" for p in kept)
    with pytest.raises(InputError, match="another noise2atom process"):  # refused: nothing is removed
        with ChunkStore(out, {"a": 1}, resume=True):
            stale[0].write_bytes(b"half a movie")
            ChunkStore(out, {"a": 1}, resume=True).__enter__()
    assert stale[0].exists()


def test_prefetch_keeps_order_raises_the_producers_error_and_stops_with_the_consumer():
    import threading
    import time as _time

    from noise2atom.denoise_file import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for x in prefetch(failing()):
            got.append(x)
    assert got == [1]
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    gen = prefetch(endless(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # the consumer stops: the producer must stop too
    _time.sleep(0.5)
    n = len(produced)
    _time.sleep(0.3)
    assert len(produced) == n <= 3 + 2 + 1
    assert not any(t.name == "noise2atom-prefetch" for t in threading.enumerate())
