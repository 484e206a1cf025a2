"""The arena generator next to real Pt-on-carbon HAADF frames: noise histogram, power spectrum, scan correlation.

    python bench/arena_realism.py [--real-dir ../shared/data/real] [--out docs/arena-realism.png] [--dose 1]

The real frames are display-stretched 16-bit PNGs with no calibration and an unknown dose, so every
comparison is made on intensities scaled to [0, 1] between the 0.5th and 99.5th percentiles, and the
simulated frames are drawn at one low dose (default 1 e/px). Prints the numbers it plots.
"""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from noise2atom.data.arena import synthesize  # noqa: E402
from noise2atom.io import read_stack  # noqa: E402
from noise2atom.metrics.noise import radial_power_spectrum, scan_correlation  # noqa: E402


def stretch(f):
    lo, hi = np.percentile(f, [0.5, 99.5])
    return np.clip((f - lo) / (hi - lo), 0, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real-dir", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"))
    ap.add_argument("--out", default="docs/arena-realism.png")
    ap.add_argument("--dose", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    real_dir = Path(a.real_dir)
    pairs = []
    for name, size in (("pt-carbon-15fps-512.png", 512), ("pt-carbon-150fps-128.png", 128)):
        path = real_dir / name
        if not path.exists():
            sys.exit(f"{path}: not found (pass --real-dir)")
        real = read_stack(path).data[0]
        sim = synthesize(frames=1, size=size, dose=a.dose, seed=a.seed).noisy[0]
        pairs.append((f"real {name}", real, f"arena {size}², {a.dose:g} e/px, seed {a.seed}", sim))

    fig, ax = plt.subplots(len(pairs), 5, figsize=(22, 4.4 * len(pairs)))
    print(f"# arena realism, {date.today()}, {platform.node()}, python {platform.python_version()}")
    print("| frame | lag-1 x | lag-2 x | lag-1 y | lag-2 y | fraction of power above 0.25 cycles/px |")
    print("|---|---|---|---|---|---|")
    for row, (rn, real, sn, sim) in enumerate(pairs):
        for col, (name, f) in enumerate(((rn, real), (sn, sim))):
            ax[row, col].imshow(f[:128, :128], cmap="gray", vmin=np.percentile(f, 0.5), vmax=np.percentile(f, 99.5))
            ax[row, col].set_title(name + " (top-left 128²)", fontsize=9)
            ax[row, col].axis("off")
        for name, f, style in ((rn, real, "k-"), (sn, sim, "r--")):
            ax[row, 2].hist(stretch(f).ravel(), bins=60, density=True, histtype="step", color=style[0],
                            linestyle=style[1:], label=name)
            freq, power = radial_power_spectrum(f)
            ax[row, 3].semilogy(freq, power, style, label=name)
            c = scan_correlation(f)
            lags = np.arange(1, len(c["x"]) + 1)
            ax[row, 4].plot(lags, c["x"], style, marker="o", label=f"{name}: along x")
            ax[row, 4].plot(lags, c["y"], style, marker="s", alpha=0.5, label=f"{name}: along y")
            hi = power[freq > 0.25].sum()
            print(f"| {name} | {c['x'][0]:.3f} | {c['x'][1]:.3f} | {c['y'][0]:.3f} | {c['y'][1]:.3f} | {hi:.3f} |")
        ax[row, 2].set_title("intensity histogram (0.5-99.5 % stretched)", fontsize=9)
        ax[row, 3].set_title("radial power spectrum (normalised)", fontsize=9)
        ax[row, 3].set_xlabel("cycles / pixel")
        ax[row, 4].set_title("noise correlation (high-pass residual) vs lag", fontsize=9)
        ax[row, 4].axhline(0, color="gray", lw=0.5)
        ax[row, 4].set_xlabel("lag (pixels)")
        for k in (2, 3, 4):
            ax[row, k].legend(fontsize=7)
    fig.tight_layout()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
