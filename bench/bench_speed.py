"""Denoising frames/s, training steps/s and peak memory, per preset, frame size and precision.

    python bench/bench_speed.py [--device cpu|cuda] [--presets small,paper] [--sizes 128,512,1024,2048]
                                [--precisions fp32[,bf16]] [--tiles preset[,256,512]] [--batches preset[,32]]
                                [--variants eager[,channels_last,compile]] [--atom-windows model[,1,0,13]]
                                [--repeats 3] [--seconds 3] [--train-steps 10]
                                [--baselines bm3d,noise2void] [--threads 2] [--json out.json]

Denoising runs ``Noise2Atom.denoise_iter`` (the code the CLI runs: causal context stacks, tiles of
the preset's size blended, batches of tiles across frames; ``--tiles``/``--batches`` try other tile
sides and tiles per forward pass, ``preset`` meaning the preset's) over an arena movie at 2 e/px.
Weights are the preset's fresh ones (the cost does not depend on them), or those of each ``--model``
(comma-separated; each runs with its own preset; output differences between settings mean something
only with trained weights). ``--variants`` runs the same network in other forms: ``channels_last``
(weights and every input in the NHWC memory layout) and ``compile`` (``Noise2Atom.compile()``, what
``denoise --compile`` runs: ``torch.compile``, default mode; its up-front compile is timed apart as
``compile_s``).
``--atom-windows`` times the atoms' window of ``--background remove`` (``denoise --atom-window``):
``model`` is the model's own setting (the CLI's default), 1 each frame's own atoms, an odd K the
atoms averaged over K registered frames, 0 the window chosen per series (its choice on the first 16
frames falls in every timed pass; the choice alone, on 16 frames' atoms, is timed apart as
``choose_s``, and the window it took is ``chosen``; the window alone, on the network's atoms of the
pass's frames, is timed apart as ``window_ms_per_frame``, steadier than the difference of two
rows' frames/s). Output differences are taken between rows of the same window only.
Each figure is the median over ``--repeats`` timed passes after one warm-up pass; a pass is as many
frames as take about ``--seconds``. Every row after the first of a preset and size gives the largest
absolute difference and the PSNR of its output against the first row's (float32 and the preset's
tiles when listed first) on the same frames (output range [0, 1]), so a speed-up can be checked not
to cost quality. Training: median seconds per pair step (the presets' recipe), the synthetic-pair
sampler's own share measured apart (it runs on the CPU). Baselines (same run, same frame sizes):
BM3D (the arena's settings, per frame) and the arena's Noise2Void network (inference only), so
ratios are measured, not quoted. Peak memory: the GPU's peak allocation per row, or the process's
peak RSS (it only grows).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import resource
import statistics
import time

import numpy as np


def _median_rate(run, n_items: int, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return n_items / statistics.median(times)


def _peak_mb(torch, device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _choice_cost(model, size: int, nz) -> dict:
    """The per-series choice of the atoms' window alone, on the first 16 frames of the same movie (the
    network's atoms of them given): its seconds and the window it took."""
    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.denoise.window import best_atom_window
    from noise2atom.model import CHOOSE_FRAMES

    raw = synthesize(SynthConfig(frames=CHOOSE_FRAMES, size=size, dose=2.0, seed=size)).noisy
    atoms = np.stack(list(model.denoise_iter(raw, normalization=nz, atom_window=1)))
    t = time.perf_counter()
    chosen = best_atom_window(raw, atoms)
    return {"choose_s": round(time.perf_counter() - t, 3), "chosen": chosen}


def _window_ms(atoms: list, k: int, repeats: int) -> float:
    """Milliseconds per frame of the atoms' window of ``k`` frames alone (registration and the
    registered mean; ``noise2atom.denoise.window.AtomWindow``) over the network's ``atoms``, median
    over ``repeats`` passes."""
    from noise2atom.denoise.window import AtomWindow

    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _out in AtomWindow(k).run(atoms):
            pass
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times) / len(atoms)


def denoise_rows(args, torch, device) -> list[dict]:
    from noise2atom import Noise2Atom, preset_config
    from noise2atom.data.arena import SynthConfig, synthesize
    from noise2atom.data.normalize import Normalization
    from noise2atom.pretrained import resolve_model

    rows = []

    def channels_last(net):
        net_cl = copy.deepcopy(net).to(memory_format=torch.channels_last)

        class ChannelsLast(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.net = net_cl

            def forward(self, x):
                return self.net(x.contiguous(memory_format=torch.channels_last)).contiguous()

        return ChannelsLast().eval()

    unknown = set(args.variants) - {"eager", "channels_last", "compile"}
    if unknown:
        raise SystemExit(f"--variants: eager, channels_last or compile, not {', '.join(sorted(unknown))}")

    if args.model:  # each named model (its own preset), in this order
        entries = [(name, resolve_model(name, device=device)) for name in args.model.split(",")]
    else:
        entries = [(None, Noise2Atom(preset_config(preset, seed=0), device=device)) for preset in args.presets]
    for label, model in entries:
        preset = model.config.preset
        for size in args.sizes:
            # frames per pass: a first guess from two frames, then about --seconds' worth
            probe = synthesize(SynthConfig(frames=2, size=size, dose=2.0, seed=size)).noisy
            nz = Normalization.fit(probe)
            t = time.perf_counter()
            list(model.denoise_iter(probe, normalization=nz))
            _sync(torch, device)
            per = max((time.perf_counter() - t) / 2, 1e-4)
            n = int(np.clip(args.seconds / per, 4, 2000))
            frames = synthesize(SynthConfig(frames=n, size=size, dose=2.0, seed=size)).noisy
            refs: dict = {}  # per atoms' window: the first setting's output
            atoms = None  # the network's own atoms of these frames (window 1), for timing the window alone
            eager_net = model.s2c
            for variant, precision in ((v, p) for v in args.variants for p in args.precisions):
                model.s2c = channels_last(eager_net) if variant == "channels_last" else eager_net
                model._compiled = None  # eager unless this variant compiles
                if variant == "compile":  # compiled up front, as the CLI does: timed apart from the steady state
                    t = time.perf_counter()
                    model.compile()
                    _sync(torch, device)
                    compile_s = time.perf_counter() - t
                for tile in args.tiles:
                    for batch in args.batches:
                        tile_px = model.config.denoise.tile_px if tile == "preset" else int(tile)
                        batch_n = model.config.denoise.batch_size if batch == "preset" else int(batch)
                        if tile_px > max(size, model.config.denoise.tile_px):
                            continue  # one tile bigger than the frame: the same as the frame's own size
                        if device.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(device)

                        for window in args.atom_windows:
                            aw = None if window == "model" else int(window)

                            def run():
                                out = list(model.denoise_iter(
                                    frames, precision=precision, tile_px=tile_px, normalization=nz,
                                    overlap_px=tile_px // 4, batch_size=batch_n, atom_window=aw))
                                _sync(torch, device)
                                return out

                            fps = _median_rate(run, n, args.repeats)
                            row = {"what": "denoise", "preset": preset, **({"model": label} if label else {}),
                                   "size": size, "variant": variant, "precision": precision,
                                   **({"compile_s": round(compile_s, 1)} if variant == "compile" else {}),
                                   "tile": tile_px, "batch": batch_n,
                                   "atom_window": model.atom_window_option(aw), "frames_per_pass": n,
                                   "frames_per_s": round(fps, 2), "peak_mb": round(_peak_mb(torch, device), 1)}
                            if row["atom_window"] == 0:
                                row.update(_choice_cost(model, size, nz))
                            k = row.get("chosen", row["atom_window"])
                            if k > 1:  # the window alone, on the network's atoms of the same frames
                                if atoms is None:  # once per model and size (the variant does not change its cost)
                                    atoms = list(model.denoise_iter(frames, normalization=nz, atom_window=1))
                                row["window_ms_per_frame"] = round(_window_ms(atoms, k, args.repeats), 2)
                            out = np.stack(run()[: min(n, 8)])
                            if window not in refs:
                                refs[window] = out  # the first setting (fp32 and the preset's tiles when listed first)
                            else:
                                diff = np.abs(out - refs[window][: len(out)])
                                mse = float(np.mean(diff ** 2))
                                row["max_abs_diff_vs_first"] = float(diff.max())
                                row["psnr_vs_first_db"] = round(10 * np.log10(1.0 / mse), 2) if mse > 0 else float("inf")
                            rows.append(row)
                            print(json.dumps(row), flush=True)
            model.s2c, model._compiled = eager_net, None
    return rows


def train_rows(args, torch, device) -> list[dict]:
    from noise2atom import Noise2Atom, preset_config, simulate_movie
    from noise2atom.train import Trainer

    rows = []
    for preset in args.presets:
        cfg = preset_config(preset, seed=0)
        movie = simulate_movie(12, max(128, cfg.data.crop_px), seed=0)
        model = Noise2Atom(cfg, device=device)
        _, frames, val, pairs, sampler = model.prepare(movie.noisy)
        tr = Trainer(cfg, frames, device=device, val_frames=val, pair_frames=pairs, pair_sampler=sampler)
        tr.step()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        steps, draws = [], []
        for _ in range(args.train_steps):
            t = time.perf_counter()
            tr.step()
            _sync(torch, device)
            steps.append(time.perf_counter() - t)
        for _ in range(args.train_steps):
            t = time.perf_counter()
            sampler.batch(cfg.train.batch_size)
            draws.append(time.perf_counter() - t)
        s, d = statistics.median(steps), statistics.median(draws)
        row = {"what": "train", "preset": preset, "crop": cfg.data.crop_px, "batch": cfg.train.batch_size,
               "context_frames": cfg.model.context_frames, "s_per_step": round(s, 4),
               "steps_per_s": round(1 / s, 2), "sampler_s_per_batch": round(d, 4),
               "peak_mb": round(_peak_mb(torch, device), 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def baseline_rows(args, torch) -> list[dict]:
    """BM3D and the Noise2Void network, on the CPU as the arena runs them."""
    rows = []
    for size in args.sizes:
        rng = np.random.default_rng(size)
        if "bm3d" in args.baselines:
            try:
                from noise2atom.bench.methods import bm3d
            except ImportError:  # pragma: no cover
                bm3d = None
            counts = rng.poisson(2.0, (1, size, size)).astype(np.float32)
            if size <= 1024:
                try:
                    fps = _median_rate(lambda: bm3d(counts), 1, max(1, args.repeats // 3 or 1))
                    row = {"what": "baseline", "method": "bm3d", "size": size, "frames_per_s": round(fps, 4)}
                except Exception as exc:  # bm3d not installed (the `bench` extra)
                    row = {"what": "baseline", "method": "bm3d", "size": size, "unavailable": str(exc)[:120]}
                rows.append(row)
                print(json.dumps(row), flush=True)
        if "noise2void" in args.baselines:
            from noise2atom.models.generator import Generator

            net = Generator(width=16, res_blocks=2, depth=2).eval()  # the arena's Noise2Void network
            frames = torch.from_numpy(rng.uniform(-1, 1, (4, 1, size, size)).astype(np.float32))

            def run():
                with torch.inference_mode():
                    for f in frames:
                        net(f[None])

            fps = _median_rate(run, len(frames), args.repeats)
            row = {"what": "baseline", "method": "noise2void", "size": size, "frames_per_s": round(fps, 3),
                   "device": "cpu"}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None)
    ap.add_argument("--presets", default="small,paper")
    ap.add_argument("--model", default=None, help="trained weights, comma-separated ('default', 'default-fast' or "
                                                  "files): rows for each, in one run; --presets is then ignored")
    ap.add_argument("--sizes", default="128,512,1024,2048")
    ap.add_argument("--precisions", default="fp32")
    ap.add_argument("--variants", default="eager", help="eager, channels_last, compile (comma-separated)")
    ap.add_argument("--atom-windows", default="model", help="model, 1, 0 (chosen) or an odd K (comma-separated)")
    ap.add_argument("--tiles", default="preset")
    ap.add_argument("--batches", default="preset")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--baselines", default="")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.presets = [p for p in args.presets.split(",") if p]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.precisions = [p for p in args.precisions.split(",") if p]
    args.variants = [v for v in args.variants.split(",") if v]
    args.tiles = [t for t in args.tiles.split(",") if t]
    args.atom_windows = [w for w in args.atom_windows.split(",") if w]
    args.batches = [b for b in args.batches.split(",") if b]
    args.baselines = [b for b in args.baselines.split(",") if b]
    machine = {"date": datetime.date.today().isoformat(), "device": str(device),
               "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
               "cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
               "torch": torch.__version__, "platform": platform.platform()}
    print(json.dumps(machine), flush=True)
    rows = denoise_rows(args, torch, device)
    if args.train_steps > 0:
        rows += train_rows(args, torch, device)
    rows += baseline_rows(args, torch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
