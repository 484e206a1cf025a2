"""What `--background keep` gains from its per-series choices: the atoms' window alone (the package
before 2026-11-28's second change), the support's frames and blur chosen with it (the package before
2026-11-29), and the atoms' power chosen too (the package before 2026-11-29's evening); the atoms'
brightness fitted per frame in all of these, as when their tables were made (``--brightness``: the
package's fifth setting).

    python bench/support_choices.py [--doses 0.5,1,2,5] [--gradient 0.5] [--seed 0] [--size 128] [--frames 20]

For each arena movie, the pretrained default's atoms (no training) are put on the support
(``denoise.background.SupportTracker``) three ways: one frame's atoms on the support over 4
registered frames blurred with σ 4 px; the same with the atoms' window (1, 2, 4 or 8 frames) chosen;
three settings chosen (the support's frames 4 or 8, its blur 4, 2.5 or 1.5 px, the atoms' window),
the atoms as they are; and all four chosen, the atoms' power (1, 1.5 or 2) too, as ``denoise`` does
(``noise2atom.model.best_support``, on the first 16 frames, at most their central 256²). Printed:
each output's predictive score (``metrics.predictive_r2``) on the whole movie, and what was chosen.
Runs in about 30 s per seed on 2 CPU cores at 128².

``--wiener`` measures a filter of the support not built into the package: instead of a Gaussian, the
radial gain ``H(f) = <conj(M_n) T_(n+1)> / <|M_n|^2>`` (clipped to [0, 1]) that best predicts the next
frame's support ``T_(n+1)`` (raw minus its atoms) from the registered frames' mean ``M_n``, measured on
the same first frames and central crop the package chooses on. Printed per movie: the package's
output, and the best of the package's choices and the Wiener support (its frames 4 or 8 and the atoms'
window chosen the same way), both chosen on the head and scored on the whole movie.

``--brightness`` instead prints, per movie, the choice with the atoms' brightness fitted once per frame
(the other four settings chosen: the package before 2026-11-29's evening) against the package's,
which also chooses between that and a brightness fitted over local windows of σ 32 px
(``denoise.background.local_brightness``), each scored on the whole movie, and the seconds the
package's choice took.

``--screen`` instead prints, per movie, the best whole-movie score over the support's frames and the
atoms' window for each blur of the support (σ 1, 1.5, 2, 2.5, 4 px) and of the atoms (0, 0.5, 0.8 px):
the wider set the package's choices were picked from (about a minute per seed at 128²).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from support_ceiling import movie_arguments, movies  # bench/, beside this script

from noise2atom.data.patches import central_crop
from noise2atom.denoise.background import (ATOM_FRAME_CHOICES, CHOOSE_FRAMES, CHOOSE_PX, SUPPORT_FRAME_CHOICES,
                                           SupportSettings, SupportTracker)
from noise2atom.metrics import predictive_r2
from noise2atom.model import best_support
from noise2atom.pretrained import load_default


SCREEN_SIGMAS = (1.0, 1.5, 2.0, 2.5, 4.0)
SCREEN_ATOM_BLURS = (0.0, 0.5, 0.8)


def movies_with_atoms(a, model):
    """(label, raw frames, the model's atoms alone) for each arena movie, both float64."""
    for label, m in movies(a):
        yield label, m.noisy.astype(np.float64), model.denoise(m.noisy, background="remove").astype(np.float64)


def main(argv=None):
    ap = movie_arguments(__doc__.splitlines()[0])
    ap.add_argument("--screen", action="store_true", help="the wider set of blurs the choices were picked from")
    ap.add_argument("--wiener", action="store_true", help="a measured radial filter of the support in the choice")
    ap.add_argument("--brightness", action="store_true", help="the atoms' brightness per frame or local, chosen")
    a = ap.parse_args(argv)
    model = load_default()
    if a.brightness:
        return brightness(a, model)
    if a.screen:
        return screen(a, model)
    if a.wiener:
        return wiener(a, model)
    print("| movie | one frame's atoms (σ 4, 4 frames) | atoms' window chosen | three chosen (power 1) "
          "| all four chosen |")
    print("|---|---|---|---|---|")
    for label, raw, atoms in movies_with_atoms(a, model):
        head = slice(0, CHOOSE_FRAMES)

        def score(s: SupportSettings) -> float:
            return predictive_r2(s.restore(raw, atoms), raw)

        window = best_support(raw[head], atoms[head], frames=4, sigma_px=4.0, atom_power=1.0, brightness="frame")
        three = best_support(raw[head], atoms[head], atom_power=1.0, brightness="frame")
        every = best_support(raw[head], atoms[head], brightness="frame")
        print(f"| {label} | {score(SupportSettings(4, 4.0, 1)):.4f} | "
              f"{score(window):.4f} ({window.atom_frames} frames) | "
              f"{score(three):.4f} ({three.frames} frames, σ {three.sigma_px:g}, atoms over {three.atom_frames}) | "
              f"{score(every):.4f} ({every.frames} frames, σ {every.sigma_px:g}, atoms over {every.atom_frames}, "
              f"power {every.atom_power:g}) |", flush=True)


def brightness(a, model) -> None:
    import time

    print("| movie | four chosen, brightness per frame | five chosen (the package) | change | choice (s) |")
    print("|---|---|---|---|---|")
    for label, raw, atoms in movies_with_atoms(a, model):
        head = slice(0, CHOOSE_FRAMES)
        before = best_support(raw[head], atoms[head], brightness="frame")
        t0 = time.perf_counter()
        now = best_support(raw[head], atoms[head])
        seconds = time.perf_counter() - t0
        s0, s1 = (predictive_r2(s.restore(raw, atoms), raw) for s in (before, now))
        print(f"| {label} | {s0:.4f} | {s1:.4f} ({now.brightness}; {now.frames} frames, σ {now.sigma_px:g}, "
              f"atoms over {now.atom_frames}, power {now.atom_power:g}) | {s1 - s0:+.4f} | {seconds:.0f} |", flush=True)


def screen(a, model) -> None:
    print("| movie | " + " | ".join(f"σ {g:g}" for g in SCREEN_SIGMAS) + " | "
          + " | ".join(f"atom blur {b:g}" for b in SCREEN_ATOM_BLURS) + " |")
    print("|---" * (1 + len(SCREEN_SIGMAS) + len(SCREEN_ATOM_BLURS)) + "|")
    for label, raw, atoms in movies_with_atoms(a, model):
        scores = {}
        for blur in SCREEN_ATOM_BLURS:
            blurred = np.stack([gaussian_filter(t, blur) for t in atoms]) if blur else atoms
            for sigma in SCREEN_SIGMAS:
                for frames in (4, 8):
                    for k in (1, 2, 4, 8):
                        out = SupportSettings(frames, sigma, k).restore(raw, blurred)
                        scores[(blur, sigma, frames, k)] = predictive_r2(out, raw)

        def best(i, v):  # the best score with setting i at v, over all the others
            return max(x for c, x in scores.items() if c[i] == v)

        print(f"| {label} | " + " | ".join(f"{best(1, g):.4f}" for g in SCREEN_SIGMAS) + " | "
              + " | ".join(f"{best(0, b):.4f}" for b in SCREEN_ATOM_BLURS) + " |", flush=True)


WIENER_BINS = np.linspace(0.0, 0.5 * np.sqrt(2.0), 49)  # radial frequency, cycles per pixel
WIENER_BRIGHTNESS_SIGMA = 2.5  # the blur that takes the background out of the atoms' brightness fit


def _radial_bins(shape) -> np.ndarray:
    fy, fx = np.fft.fftfreq(shape[0])[:, None], np.fft.fftfreq(shape[1])[None, :]
    return np.clip(np.digitize(np.hypot(fy, fx), WIENER_BINS) - 1, 0, len(WIENER_BINS) - 2)


class WienerTracker(SupportTracker):
    """The package's tracker with the support's Gaussian replaced by a radial gain per frequency bin."""

    def __init__(self, frames: int, atom_frames: int, gains: np.ndarray | None):
        super().__init__(frames, WIENER_BRIGHTNESS_SIGMA, atom_frames=atom_frames)
        self.gains = gains  # None: no filter (to measure the gains)

    def smooth_support(self, support):
        if self.gains is None:
            return support
        return np.fft.ifft2(np.fft.fft2(support) * self.gains[_radial_bins(support.shape)]).real


def wiener_gains(raw, atoms, frames: int, atom_frames: int) -> np.ndarray:
    """The radial gain that best predicts frame n + 1's support from frame n's registered mean (per bin)."""
    tracker = WienerTracker(frames, atom_frames, None)
    means, supports = [], []
    for r, a in zip(raw, atoms):
        out = tracker.add(r, a)
        means.append(out - tracker.last_atoms)  # the registered mean (its level does not matter: DC is left out)
        supports.append(r - tracker.last_atoms)
    bins = _radial_bins(raw.shape[1:]).ravel()
    n = len(WIENER_BINS) - 1
    num, den = np.zeros(n), np.zeros(n)
    for m, t in zip(means[:-1], supports[1:]):
        fm, ft = np.fft.fft2(m - m.mean()).ravel(), np.fft.fft2(t - t.mean()).ravel()
        num += np.bincount(bins, (np.conj(fm) * ft).real, n)
        den += np.bincount(bins, np.abs(fm) ** 2, n)
    return np.clip(np.divide(num, den, out=np.zeros(n), where=den > 0), 0.0, 1.0)


def wiener(a, model) -> None:
    print("| movie | package (chosen) | with the Wiener support in the choice (chosen) |")
    print("|---|---|---|")
    for label, raw, atoms in movies_with_atoms(a, model):
        hr, ha = (central_crop(x[:CHOOSE_FRAMES], CHOOSE_PX, 1) for x in (raw, atoms))  # what the package sees
        package = best_support(hr, ha, brightness="frame")
        best, best_score = package, predictive_r2(package.restore(hr, ha), hr)
        for frames in SUPPORT_FRAME_CHOICES:
            for k in [c for c in ATOM_FRAME_CHOICES if c <= len(hr)]:
                tracker = WienerTracker(frames, k, wiener_gains(hr, ha, frames, k))
                score = predictive_r2(tracker.restore(hr, ha), hr)
                if score > best_score + 1e-9:
                    best, best_score = tracker, score
        whole = predictive_r2(package.restore(raw, atoms), raw)
        if isinstance(best, WienerTracker):
            out, what = WienerTracker(best.frames, best.atom_frames, best.gains).restore(raw, atoms), "Wiener"
        else:
            out, what = best.restore(raw, atoms), f"σ {best.sigma_px:g}"
        print(f"| {label} | {whole:.4f} ({package.frames} frames, σ {package.sigma_px:g}, atoms over "
              f"{package.atom_frames}) | {predictive_r2(out, raw):.4f} ({best.frames} frames, {what}, atoms over "
              f"{best.atom_frames}) |", flush=True)


if __name__ == "__main__":
    main()
