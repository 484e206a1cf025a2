"""The benchmark's figures: the paper's Fig. 3 (methods side by side) and Fig. 4 (training-set size) analogues."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report import _plt


def _show(ax, img, title, corner=None):
    lo, hi = np.percentile(img, [0.5, 99.5])
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    if corner:
        ax.text(0.03, 0.97, corner, transform=ax.transAxes, va="top", color="yellow", fontsize=8,
                bbox=dict(facecolor="black", alpha=0.55, lw=0))


def fig3(panels: dict, movie, path: str | Path, *, rows: list[dict], frame: int | None = None) -> Path:
    """One frame from every method (and the truth when known), CSS and atom F1 in each corner;
    the true atom positions are marked on the truth panel."""
    plt = _plt()
    n = len(panels)
    cols = min(n, 5)
    r = int(np.ceil(n / cols))
    fig, axes = plt.subplots(r, cols, figsize=(2.9 * cols, 3.0 * r), squeeze=False)
    t = frame if frame is not None else len(next(iter(panels.values()))) // 2
    by_name = {row["method"]: row for row in rows}
    for ax, (name, series) in zip(axes.ravel(), panels.items()):
        row = by_name.get(name, {})
        corner = []
        if row.get("css") is not None:
            corner.append(f"CSS {row['css']:.3f}")
        if "f1" in row:
            corner.append(f"F1 {row['f1']:.2f}")
        if row.get("predictive") is not None:
            corner.append(f"pred {row['predictive']:.3f}")
        _show(ax, series[t], name, "\n".join(corner))
        if movie is not None and name == "truth (atoms)":
            p = movie.positions[t]
            ax.plot(p[:, 1], p[:, 0], "r+", ms=4, mew=0.8)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(f"frame {t}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig4(panels: dict, test, path: str | Path) -> Path:
    """Noise2Atom trained on 1 / 10 / 50 / 100 frames: one test frame each, with F1, predictive and CSS."""
    plt = _plt()
    t = len(test.noisy) // 2
    n = len(panels) + 2
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n, 3.2), squeeze=False)
    _show(axes[0, 0], test.noisy[t], "noisy (test movie)")
    for ax, (k, (den, row)) in zip(axes[0, 1:], panels.items()):
        _show(ax, den[t], f"trained on {k} frame{'s' if k != 1 else ''}",
              f"F1 {row['f1']:.2f}\npred {row['predictive']:.3f}\nCSS {row['css']:.3f}")
    _show(axes[0, -1], test.atoms[t], "truth (atoms)")
    p = test.positions[t]
    axes[0, -1].plot(p[:, 1], p[:, 0], "r+", ms=4, mew=0.8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
