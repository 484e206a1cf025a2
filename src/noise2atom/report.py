"""Figures and the short report: loss curves (paper Fig. 1), side-by-side frames (paper Fig. 3), CSS
over time, atom positions. Every figure is written as PNG and, beside it, PDF (for papers)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_losses(csv_path: str | Path) -> dict[str, np.ndarray]:
    """The per-step loss log as columns of floats."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows]) for k in rows[0]}


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) < n or n < 2:
        return y
    k = np.ones(n) / n
    return np.convolve(np.pad(y, (n - 1, 0), mode="edge"), k, mode="valid")


def _save(fig, out_path: str | Path, plt) -> Path:
    """Lay out and write a figure as ``out_path`` and its PDF/PNG companion (figures go into papers:
    :func:`_save_png_and_pdf`); returns ``out_path``."""
    return _save_png_and_pdf(fig, out_path, plt, dpi=120)[0]


def plot_losses(csv_path: str | Path, out_path: str | Path, *, cycle_limit: float = 0.05,
                lfc_limit: float = 0.1) -> Path:
    """Cycle and low-frequency cycle losses per step with the paper's convergence limits (Fig. 1),
    and the critic's Wasserstein estimate; for a run of the pair stage alone (no game), its loss and
    the validation score of the weights instead."""
    plt = _plt()
    cols = read_losses(csv_path)
    game = bool(cols) and np.isfinite(cols.get("cycle", np.array([np.nan]))).any()
    if cols and not game and "pair" in cols:
        return _plot_pair_stage(cols, out_path, plt)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if cols:
        step = cols["step"]
        n = max(2, len(step) // 50)
        ax = axes[0]
        for key, color, limit in (("cycle", "C0", cycle_limit), ("lfc", "C1", lfc_limit)):
            ax.plot(step, cols[key], color=color, alpha=0.25, lw=0.8)
            ax.plot(step, _smooth(cols[key], n), color=color, label=f"L_{key}")
            ax.axhline(limit, color=color, ls="--", lw=0.8)
        if "pair" in cols and np.isfinite(cols["pair"]).any():  # the supervised pair stage comes first
            ax.plot(step, cols["pair"], color="C4", alpha=0.6, lw=0.8, label="L_pair (synthetic pairs, MSE)")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (mean absolute error)")
        ax.set_title("cycle and low-frequency cycle losses\n(dashed: the paper's convergence limits)", fontsize=9)
        ax.legend()
        ax = axes[1]
        ax.plot(step, cols["w_distance"], color="C2", alpha=0.3, lw=0.8)
        ax.plot(step, _smooth(cols["w_distance"], n), color="C2", label="critic's W estimate")
        ax2 = ax.twinx()
        ax2.plot(step, _smooth(cols["corr"], n), color="C3", label="low-pass corr(in, out)")
        ax2.set_ylim(-1, 1)
        ax2.set_ylabel("correlation", color="C3")
        ax.set_xlabel("step")
        ax.set_ylabel("Wasserstein estimate", color="C2")
        ax.set_title("critic and brightness consistency", fontsize=9)
    return _save(fig, out_path, plt)


def _plot_pair_stage(cols: dict[str, np.ndarray], out_path: str | Path, plt) -> Path:
    step = cols["step"]
    n = max(2, len(step) // 50)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(step, cols["pair"], color="C4", alpha=0.25, lw=0.8)
    ax.plot(step, _smooth(cols["pair"], n), color="C4", label="L_pair (synthetic pairs, MSE)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (mean squared error)")
    ax.set_title("supervised steps on synthetic pairs matched to the series\n"
                 "(no adversarial game: the paper's convergence limits do not apply)", fontsize=9)
    ax.legend(loc="upper right")
    val = cols.get("val_score")
    if val is not None and np.isfinite(val).any():
        ax2 = ax.twinx()
        ok = np.isfinite(val)
        ax2.plot(step[ok], val[ok], "o", color="C2", ms=4, label="predictive score (held-out frames)")
        ax2.set_ylabel("predictive score", color="C2")
    return _save(fig, out_path, plt)


def plot_side_by_side(rows: dict[str, np.ndarray], out_path: str | Path, *, frames=(0, 1),
                      css_values: dict[str, float] | None = None, pixel_size: float | None = None,
                      unit: str | None = None) -> Path:
    """Rows of consecutive frames (e.g. noisy / denoised / truth), each row's CSS in the corner."""
    plt = _plt()
    names = list(rows)
    frames = [f for f in frames if f < min(len(v) for v in rows.values())]
    fig, axes = plt.subplots(len(names), len(frames), figsize=(3.2 * len(frames), 3.2 * len(names)), squeeze=False)
    for r, name in enumerate(names):
        for c, f in enumerate(frames):
            ax = axes[r, c]
            img = rows[name][f]
            lo, hi = np.percentile(img, [0.5, 99.5])
            ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
            ax.set_xticks([]); ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name)
            if r == 0:
                ax.set_title(f"frame {f}")
            if css_values and name in css_values and c == 0 and css_values[name] is not None:
                ax.text(0.03, 0.97, f"CSS {css_values[name]:.3f}", transform=ax.transAxes, va="top",
                        color="yellow", fontsize=10, bbox=dict(facecolor="black", alpha=0.5, lw=0))
            if pixel_size and unit and r == len(names) - 1 and c == len(frames) - 1:
                _scale_bar(ax, img.shape, pixel_size, unit)
    return _save(fig, out_path, plt)


def _scale_bar(ax, shape, pixel_size: float, unit: str) -> None:
    """A white bar of a round length (about a fifth of the width) in the bottom-right corner."""
    h, w = shape
    bar = _nice_length(0.2 * w * pixel_size)
    px = bar / pixel_size
    ax.plot([w * 0.95 - px, w * 0.95], [h * 0.93] * 2, color="white", lw=3)
    ax.text(w * 0.95 - px / 2, h * 0.90, f"{bar:g} {unit}", color="white", ha="center", va="bottom", fontsize=9)


def plot_atoms(frame: np.ndarray, positions: np.ndarray, out_path: str | Path, *, title: str = "",
               pixel_size: float | None = None, unit: str | None = None) -> list[Path]:
    """The frame with the found atoms circled (and a scale bar when calibrated); written as the
    given path and, beside it, the same name with the other of .png / .pdf."""
    plt = _plt()
    frame = np.asarray(frame, dtype=np.float64)
    h, w = frame.shape
    fig, ax = plt.subplots(figsize=(6, 6 * h / w))
    lo, hi = np.percentile(frame, [0.5, 99.5])
    ax.imshow(frame, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    ax.scatter(pos[:, 1], pos[:, 0], s=40, facecolors="none", edgecolors="#ff6a00", linewidths=1.0)
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f"{title}{' — ' if title else ''}{len(pos)} atoms")
    if pixel_size and unit:
        _scale_bar(ax, (h, w), pixel_size, unit)
    return _save_png_and_pdf(fig, out_path, plt)


def companion_path(out_path: str | Path) -> Path:
    """The other of .png / .pdf beside a figure's path (figures for papers are written as both)."""
    out_path = Path(out_path)
    return out_path.with_suffix(".pdf" if out_path.suffix.lower() == ".png" else ".png")


def _save_png_and_pdf(fig, out_path: str | Path, plt, dpi: int = 150) -> list[Path]:
    """Write a figure as ``out_path`` and, beside it, as :func:`companion_path` (for papers)."""
    out_path = Path(out_path)
    other = companion_path(out_path)
    fig.tight_layout()
    for p in (out_path, other):
        fig.savefig(p, dpi=dpi)
    plt.close(fig)
    return [out_path, other]


def plot_css(series: dict, out_path: str | Path, *, frame_time_s: float | None = None) -> list[Path]:
    """CSS of each consecutive pair over time, one line per series (``{name: CssResult}``), with each
    series' mean in the legend; time in seconds when the frame time is known. PNG and PDF."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, res in series.items():
        n = np.arange(1, len(res.pairs) + 1)
        x = n * frame_time_s if frame_time_s else n
        ax.plot(x, res.pairs, "-o", ms=3, lw=1.2, label=f"{name} (mean {res.mean:.3f})")
    ax.set_xlabel("time of the later frame (s)" if frame_time_s else "later frame of the pair")
    ax.set_ylabel("CSS (eq. 10)")
    ax.set_ylim(top=1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save_png_and_pdf(fig, out_path, plt)


def _nice_length(x: float) -> float:
    e = 10 ** np.floor(np.log10(x))
    for m in (5, 2, 1):
        if m * e <= x:
            return float(m * e)
    return float(e)
