"""``noise2atom benchmark``: every method on the same data, the same metrics, one table.

Synthetic datasets come from the arena generator (``data.arena``) and have the truth, so they are
scored by atom F1 (with precision and recall), the predictive score, PSNR and SSIM against the clean
movie, PSNR against the heavy-atom part alone, and CSS. Real series (``inputs``) have no truth: only
CSS and the predictive score apply. Protocol, applied to every method alike:

* the atom detector (``metrics.find_atoms``, matched within ``RADIUS_PX``, positions within
  ``BORDER_PX`` of the edge left out) runs at the threshold
  that gives the method its best F1 on the dataset (a grid of 0.05-0.7 of the frame's range), so no
  method loses on a badly placed cut;
* the Gaussian, median and temporal-window parameters are tuned by that F1 on a separate
  calibration movie (same physics and dose, another seed), so they are the best these filters can do;
* methods that read neighbouring frames are scored for prediction by a second, causal run;
* ``seconds_per_frame`` is the time to denoise, per frame, after calibration or training
  (``fit_seconds``, reported apart).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..data.arena import SynthConfig, SynthMovie, synthesize
from ..metrics import atom_score, css, predictive_r2, psnr, ssim
from .methods import GRIDS, LEARNED, METHODS, TEMPORAL, MethodUnavailable

log = logging.getLogger("noise2atom")
RADIUS_PX = 1.5
BORDER_PX = 2.0
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.71, 0.05), 2))


@dataclass
class BenchSpec:
    """What to run. ``quick()`` is the CI-sized setting."""

    methods: tuple = tuple(m for m in METHODS if "tuned" not in m)  # fine-tuning: ask for it by name
    doses: tuple = (0.5, 1.0, 2.0, 5.0)
    size: int = 128
    frames: int = 40
    gradient: float = 0.0             # also run the first dose with this background gradient when > 0
    seed: int = 0
    minutes: float = 4.0              # training budget of each learned method per dataset
    fig4_sizes: tuple = (1, 10, 50, 100)
    fig4_dose: float = 1.0
    fig4_minutes: float = 3.0
    inputs: tuple = ()                # real series without truth
    preset: str = "small"             # noise2atom's preset when trained on a series (paper: for a GPU)

    @classmethod
    def quick(cls, **kw) -> "BenchSpec":
        base = dict(doses=(2.0,), size=64, frames=6, minutes=0.4, fig4_sizes=(1, 4), fig4_minutes=0.25)
        return cls(**{**base, **kw})


def best_f1(frames: np.ndarray, positions) -> tuple[dict, float]:
    """Atom score at the detection threshold that maximises F1 (and that threshold)."""
    best, best_t = None, THRESHOLDS[0]
    for t in THRESHOLDS:
        s = atom_score(frames, positions, radius_px=RADIUS_PX, border_px=BORDER_PX, threshold=float(t))
        if best is None or s.f1 > best.f1:
            best, best_t = s, float(t)
    return best.to_dict(), best_t


def datasets(spec: BenchSpec) -> list[tuple[str, SynthConfig]]:
    out = []
    for d in spec.doses:
        out.append((f"arena-{spec.size}px-{d:g}e", SynthConfig(frames=spec.frames, size=spec.size, dose=d,
                                                              seed=spec.seed)))
    if spec.gradient > 0:
        d = spec.doses[0]
        out.append((f"arena-{spec.size}px-{d:g}e-gradient", SynthConfig(frames=spec.frames, size=spec.size, dose=d,
                                                                         seed=spec.seed, gradient=spec.gradient)))
    return out


def arena_movies(size: int, seeds, movies=None, frames: int = 20):
    """(name, seed, movie) for the arena's five movies per seed (0.5, 1, 2, 5 e⁻/px and 0.5 e⁻/px with a
    0.5 background gradient), simulated one at a time; ``movies``: only those named so (the part of
    the name after the size, e.g. ``{"0.5e", "0.5e-gradient"}``). The bench scripts' loop."""
    for seed in seeds:
        spec = BenchSpec(doses=(0.5, 1, 2, 5), size=size, frames=frames, gradient=0.5, seed=seed)
        for name, cfg in datasets(spec):
            if not movies or name.split("px-", 1)[1] in movies:
                yield name, seed, synthesize(cfg)


def tune(name: str, cfg: SynthConfig):
    """The parameter of a grid-tuned method that gives the best F1 on a calibration movie (another seed)."""
    if name not in GRIDS:
        return None
    cal = synthesize(replace(cfg, seed=cfg.seed + 1000, frames=min(cfg.frames, 8)))
    scores = {p: best_f1(METHODS[name](cal.noisy, param=p).denoised, cal.positions)[0]["f1"]
              for p in GRIDS[name] if not (name == "temporal" and p > len(cal.noisy))}
    return max(scores, key=scores.get)


def score_truth(den: np.ndarray, movie: SynthMovie) -> dict:
    atoms, thr = best_f1(den, movie.positions)
    return {"f1": atoms["f1"], "precision": atoms["precision"], "recall": atoms["recall"],
            "detect_threshold": thr, "psnr_db": psnr(den, movie.clean), "ssim": ssim(den, movie.clean),
            "psnr_atoms_db": psnr(den, movie.atoms)}


def run_method(name: str, noisy: np.ndarray, *, spec: BenchSpec, param=None, seed: int = 0) -> tuple[dict, np.ndarray]:
    kw = {"seed": seed, "minutes": spec.minutes} if name in LEARNED else {}
    if name.startswith("noise2atom"):
        kw["preset"] = spec.preset
    if param is not None:
        kw["param"] = param
    t0 = time.perf_counter()
    out = METHODS[name](noisy, **kw)
    total = time.perf_counter() - t0
    row = {"method": name, "params": out.params, "fit_seconds": round(out.fit_seconds, 3),
           "seconds_per_frame": (total - out.fit_seconds) / len(noisy)}
    pred_source = out.denoised
    if name in TEMPORAL and len(noisy) > 1:
        pred_source = METHODS[name](noisy, causal=True, **kw).denoised
    if len(noisy) > 1:
        row["predictive"] = predictive_r2(pred_source, noisy)
        try:
            row["predictive_registered"] = predictive_r2(pred_source, noisy, drift="measure")
        except ValueError as err:  # a drift measured on noise alone can span the frame: nothing to score
            log.warning("%s: no registered predictive score: %s", name, err)
            row["predictive_registered"] = None
        row["css"] = css(out.denoised).mean
    return row, out.denoised


def run_benchmark(spec: BenchSpec, out_dir: str | Path, *, progress: Callable[[str], None] | None = None) -> list:
    """Run everything in ``spec``; write results.json, results.md and the figures into ``out_dir``."""
    from .figures import fig3

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    skipped: dict[str, str] = {}
    say = progress or (lambda s: None)
    for ds_name, cfg in datasets(spec):
        movie = synthesize(cfg)
        extra = {"dose": cfg.dose, "size": cfg.size, "frames": cfg.frames, "gradient": cfg.gradient}
        panels = _run_methods(spec, movie.noisy, ds_name, extra, rows, skipped, say, cfg=cfg, movie=movie)
        panels["truth (clean)"] = movie.clean
        panels["truth (atoms)"] = movie.atoms
        fig3(panels, movie, out / f"fig3-{ds_name}.png", rows=[r for r in rows if r["dataset"] == ds_name])
    for path in spec.inputs:
        from ..io import read_stack

        stack = read_stack(path)
        extra = {"frames": len(stack.data), "size": stack.data.shape[-1]}
        panels = _run_methods(spec, stack.data, str(path), extra, rows, skipped, say)
        fig3(panels, None, out / f"fig3-{Path(path).stem}.png", rows=[r for r in rows if r["dataset"] == str(path)])
    if spec.fig4_sizes and "noise2atom" in spec.methods:
        say("training-set size study (Fig. 4)")
        fig4_rows = training_size_study(spec, out)
        rows.extend(fig4_rows)
    (out / "results.json").write_text(json.dumps(_clean(rows), indent=2))
    (out / "results.md").write_text(markdown(rows, spec, skipped))
    return rows


def _run_methods(spec: BenchSpec, noisy: np.ndarray, dataset: str, extra: dict, rows: list, skipped: dict, say,
                 *, cfg: SynthConfig | None = None, movie: SynthMovie | None = None) -> dict:
    """Every method of ``spec`` on one series: appends a row each to ``rows`` (scored against ``movie`` when
    there is a truth; grid parameters tuned on ``cfg``'s calibration movie), records methods that cannot run
    in ``skipped``, and returns the denoised series by method name (the noisy one first) for the figure."""
    panels = {"noisy": noisy}
    for name in spec.methods:
        if name in skipped:
            continue
        say(f"{dataset}: {name}")
        try:
            param = tune(name, cfg) if cfg is not None else None
            row, den = run_method(name, noisy, spec=spec, param=param, seed=spec.seed)
        except MethodUnavailable as exc:
            skipped[name] = str(exc)
            log.warning("skipping %s: %s", name, exc)
            continue
        if movie is not None:
            row.update(score_truth(den, movie))
        row.update({"dataset": dataset, **extra})
        rows.append(row)
        panels[name] = den
    return panels


def training_size_study(spec: BenchSpec, out: Path) -> list[dict]:
    """Noise2Atom trained on the first N frames of a movie, scored on a separate test movie (paper Fig. 4)."""
    from ..config import preset_config
    from ..model import Noise2Atom
    from .figures import fig4

    n_max = max(spec.fig4_sizes)
    train = synthesize(SynthConfig(frames=n_max, size=spec.size, dose=spec.fig4_dose, seed=spec.seed + 500))
    test = synthesize(SynthConfig(frames=max(spec.frames // 2, 4), size=spec.size, dose=spec.fig4_dose,
                                  seed=spec.seed + 600))
    rows, panels = [], {}
    for n in spec.fig4_sizes:
        model = Noise2Atom(preset_config(spec.preset, seed=spec.seed))
        t0 = time.perf_counter()
        result = model.fit(train.noisy[:n], minutes=spec.fig4_minutes)
        fit = time.perf_counter() - t0
        t1 = time.perf_counter()
        den = model.denoise(test.noisy)
        per_frame = (time.perf_counter() - t1) / len(test.noisy)
        row = {"seconds_per_frame": per_frame, "method": "noise2atom", "dataset": f"fig4-train-{n}-frames", "train_frames": n, "dose": spec.fig4_dose,
               "size": spec.size, "frames": len(test.noisy), "fit_seconds": round(fit, 1),
               "params": {"steps": result.steps, "kept_step": result.kept_step},
               "predictive": predictive_r2(model.denoise(test.noisy, atom_window=1), test.noisy),
               "css": css(den).mean}
        row.update(score_truth(den, test))
        rows.append(row)
        panels[n] = (den, row)
    fig4(panels, test, out / "fig4-training-frames.png")
    return rows


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def _fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def markdown(rows: list[dict], spec: BenchSpec, skipped: dict | None = None) -> str:
    lines = ["# noise2atom benchmark", "",
             f"Atoms matched within {RADIUS_PX} px (none within {BORDER_PX:g} px of the edge) at each method's best detection threshold; Gaussian/median/"
             "temporal parameters tuned by F1 on a calibration movie; predictive = signed R² of raw frame n+1 "
             "from denoised frame n (causal runs for temporal methods), 'reg.' with frame n+1 first moved onto frame n "
             "by the measured drift; PSNR/SSIM against the clean movie, "
             "PSNR-atoms against its heavy-atom part; s/frame excludes calibration/training (fit s).", ""]
    for name, why in (skipped or {}).items():
        lines += [f"Not run: **{name}** -- {why}.", ""]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        sub = [r for r in rows if r["dataset"] == ds]
        lines += [f"## {ds}", ""]
        if "f1" in sub[0]:
            lines += ["| method | atom F1 | precision | recall | predictive | predictive reg. | PSNR dB | PSNR-atoms dB | "
                      "SSIM | CSS | s/frame | fit s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for r in sorted(sub, key=lambda r: -r["f1"]):
                lines.append(f"| {r['method']}{' (' + str(r.get('train_frames')) + ' frames)' if 'train_frames' in r else ''}"
                             f" | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {_fmt(r.get('predictive'))} "
                             f"| {_fmt(r.get('predictive_registered'))} | {r['psnr_db']:.2f} | {r['psnr_atoms_db']:.2f} | {r['ssim']:.3f} | {_fmt(r.get('css'))} "
                             f"| {_fmt(r.get('seconds_per_frame'), 4)} | {r['fit_seconds']:.1f} |")
        else:
            lines += ["| method | predictive | predictive reg. | CSS | s/frame | fit s |", "|---|---|---|---|---|---|"]
            for r in sorted(sub, key=lambda r: -r.get("predictive", -9)):
                lines.append(f"| {r['method']} | {_fmt(r.get('predictive'))} | {_fmt(r.get('predictive_registered'))} "
                             f"| {_fmt(r.get('css'))} | "
                             f"{_fmt(r.get('seconds_per_frame'), 4)} | {r['fit_seconds']:.1f} |")
        lines.append("")
    return "\n".join(lines)
