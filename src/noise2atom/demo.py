"""The main job on the bundled default data: simulate a noisy movie, train, denoise, report."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Callable

from scipy.ndimage import gaussian_filter

from .config import preset_config
from .data.movie import simulate_movie
from .errors import InputError
from .io import read_stack, write_tiff
from .metrics import atom_score, css, predictive_r2, psnr, ssim
from .model import Noise2Atom
from .pretrained import DEFAULT_FILE, FINETUNE_MERGE_STEPS, FINETUNE_STEPS, finetune_config, load_default
from .report import plot_css, plot_losses, plot_side_by_side

log = logging.getLogger("noise2atom")


DEFAULT_ROW = "pretrained default (no training)"


def run_demo(out_dir: str | Path = "noise2atom-demo", *, minutes: float = 10.0, input_path: str | Path | None = None,
             frames: int = 40, size: int = 128, dose_e_per_px: float = 2.0, seed: int = 0,
             overwrite: bool = False, init: str | None = "default",
             progress: Callable[[int, int, dict], None] | None = None) -> dict:
    """Run the whole pipeline and write everything into ``out_dir``; returns the report's numbers.

    Without ``input_path``, a noisy STEM-like movie of Pt atoms on carbon is simulated
    (``frames`` x ``size``² at ``dose_e_per_px``), so the result can be checked against the truth.
    ``init="default"`` fine-tunes the pretrained default on the movie (what ``noise2atom train``
    does by default); ``None`` trains the small preset from fresh weights.
    """
    if init not in (None, "default"):
        raise InputError(f"init: 'default' or None, not {init!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: folder exists and is not empty; choose another --out or pass --overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = None
    if input_path is None:
        movie = simulate_movie(frames, size, dose_e_per_px=dose_e_per_px, seed=seed)
        noisy, truth = movie.noisy, movie.atoms
        write_tiff(out / "noisy.tif", noisy)
        write_tiff(out / "truth-atoms.tif", truth)
        source, pixel_size, unit = f"simulated movie ({frames}x{size}², {dose_e_per_px} e/px, seed {seed})", None, None
    else:
        stack = read_stack(input_path)
        noisy, source, pixel_size, unit = stack.data, str(input_path), stack.pixel_size, stack.unit

    init_model = load_default(device="cpu") if init == "default" and DEFAULT_FILE.exists() else None
    if init_model is not None:
        model = Noise2Atom(finetune_config(init_model, seed=seed, pair_steps=FINETUNE_STEPS,
                                           merge_steps=FINETUNE_MERGE_STEPS))
        log.info("fine-tuning the pretrained default on %s (at most %.1f min)", source, minutes)
    else:
        model = Noise2Atom(preset_config("small", seed=seed))
        log.info("training the small preset from fresh weights for at most %.1f min on %s", minutes, source)
    result = model.fit(noisy, minutes=minutes, workdir=out / "run", progress=progress, init=init_model)
    model.save(out / "model.n2a")
    denoised = model.denoise(noisy)
    write_tiff(out / "denoised.tif", denoised, pixel_size=pixel_size, unit=unit)
    plot_losses(out / "run" / "losses.csv", out / "losses.png")

    numbers: dict = {"source": source, "training": result.to_dict(),
                     "recipe": {"pair_steps": model.config.train.pair_steps, "game_epochs": model.config.train.epochs,
                                "context_frames": model.config.model.context_frames,
                                "merged_steps": result.merged_steps or 0,
                                "start": "pretrained default" if init_model is not None else "fresh weights"}}
    gauss = gaussian_filter(noisy, sigma=(0, 1.5, 1.5))
    estimates = {"noisy": noisy, "gaussian σ=1.5 px": gauss}
    # the predictive score of an output whose atoms are averaged over later frames too (denoise's
    # atom_window) comes from each frame's own atoms, which cannot see frame n + 1
    own_frames = {"noise2atom": lambda: model.denoise(noisy, atom_window=1)}
    if DEFAULT_FILE.exists():  # the shipped model, no training: what `noise2atom denoise` does without --model
        default = load_default(device=model.device)
        estimates[DEFAULT_ROW] = default.denoise(noisy)
        own_frames[DEFAULT_ROW] = lambda: default.denoise(noisy, atom_window=1)
        write_tiff(out / "denoised-default.tif", estimates[DEFAULT_ROW], pixel_size=pixel_size, unit=unit)
    estimates["noise2atom"] = denoised
    rows = {k: v for k, v in estimates.items() if not k.startswith("gaussian")}
    css_values = {}
    if len(noisy) >= 2:
        numbers["predictive_r2"] = {k: predictive_r2(own_frames[k]() if k in own_frames else v, noisy)
                                    for k, v in estimates.items()}
        css_values = {name: css(arr).mean for name, arr in rows.items()}
        numbers["css"] = css_values
    if truth is not None:
        numbers["psnr_db_vs_truth"] = {k: psnr(v, truth) for k, v in estimates.items()}
        numbers["ssim_vs_truth"] = {k: ssim(v, truth) for k, v in estimates.items()}
        numbers["atom_f1"] = {name: atom_score(arr, movie.positions, radius_px=1.5).to_dict() for name, arr in
                              [*estimates.items(), ("truth (atoms)", truth)]}
        rows["truth (atoms)"] = truth
        if len(noisy) >= 2:
            css_values["truth (atoms)"] = css(truth).mean
    plot_side_by_side(rows, out / "side_by_side.png", css_values=css_values, pixel_size=pixel_size, unit=unit)
    if len(noisy) >= 2:  # CSS over time of every row (PNG and PDF)
        plot_css({name: css(arr) for name, arr in rows.items()}, out / "css.png")
    (out / "report.json").write_text(json.dumps(numbers, indent=2, default=str))
    (out / "report.md").write_text(_markdown(numbers))
    return numbers


def _recipe_line(recipe: dict | None, t: dict) -> str:
    criteria = ("the paper's convergence criteria (cycle < 0.05, lfc < 0.1) "
                + (f"met at step {t['converged_step']}." if t["converged_step"] else "not met."))
    if not recipe:
        return criteria
    if recipe["game_epochs"] == 0:
        k = recipe.get("context_frames", 0)
        seen = f", each frame denoised with the {k} frames before it" if k else ""
        start = (", starting from the pretrained default (fine-tuning)" if recipe.get("start") == "pretrained default"
                 else "")
        check = t.get("start_check")
        if check and not t.get("keep_start"):
            start += (f"; the starting network was left out: it did not hold up on this series (held-out "
                      f"predictive score of the two networks' mean {check['with_start']:.4f} against the "
                      f"fine-tuned network's {check['fine_tuned']:.4f}, margin {check['margin']:g})")
        elif recipe.get("merged_steps"):
            start += (f"; then the fine-tuned and the starting network's mean taught back to one network in "
                      f"{recipe['merged_steps']} steps ({t.get('merge_seconds') or 0:.0f} s)")
        elif check:
            start += "; the starting network kept beside the fine-tuned one (the two networks' mean)"
        return (f"{recipe['pair_steps']} supervised steps on synthetic pairs matched to the series{seen}{start}, "
                "no adversarial game (the presets' recipe), so the paper's convergence criteria do not apply.")
    pairs = f"{recipe['pair_steps']} pair steps, then " if recipe["pair_steps"] else ""
    return f"{pairs}{recipe['game_epochs']} epochs of the paper's game; " + criteria


def _markdown(n: dict) -> str:
    t = n["training"]
    lines = ["# noise2atom demo report", "", f"Data: {n['source']}", "",
             f"Training: {t['steps']} steps in {t['seconds']:.0f} s, stopped by {t['stopped_by']}; "
             + _recipe_line(n.get("recipe"), t),
             f"Final running means: {t['final']}.",
             f"Inverted-mapping restarts: {t['restarts']}; inverted at the end: {t['inverted_at_end']}.",
             f"Weights kept: step {t['kept_step']} (predictive score {t['kept_score']}).", ""]
    if "css" in n:
        lines += ["| series | CSS (eq. 10, mean) |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in n["css"].items()]
        lines += ["", "CSS alone rewards blur (a constant series scores 1.0); read it beside the fidelity below.", ""]
    if "predictive_r2" in n:
        lines += ["| estimate | predictive score (frame n predicts raw frame n+1, signed R²) |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in n["predictive_r2"].items()]
        lines.append("")
    if "psnr_db_vs_truth" in n:
        lines += ["| estimate | PSNR vs truth (dB, affine fit) | SSIM vs truth |", "|---|---|---|"]
        for k in n["psnr_db_vs_truth"]:
            lines.append(f"| {k} | {n['psnr_db_vs_truth'][k]:.2f} | {n['ssim_vs_truth'][k]:.3f} |")
        lines.append("")
    if "atom_f1" in n:
        lines += ["Atoms found (peaks >= 25 % of the frame's range, >= 2 px apart, matched within 1.5 px; "
                  "atoms of a cluster closer than the probe cannot all be resolved, even in the truth):", "",
                  "| estimate | precision | recall | F1 |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |" for k, v in n["atom_f1"].items()]
        lines.append("")
    lines += ["Figures, each as PNG and PDF: `side_by_side` (noisy / denoised / truth, CSS in the corner), `css` "
              "(CSS of each consecutive pair over time), `losses` (the training losses; those of the paper's "
              "Fig. 1 when its game ran). Files: `denoised.tif`, `model.n2a`, `run/losses.csv`"
              + (", `denoised-default.tif` (the pretrained default model, no training)" if DEFAULT_ROW in n.get("css", {})
                 or DEFAULT_ROW in n.get("psnr_db_vs_truth", {}) else "") + ".", ""]
    return "\n".join(lines)
