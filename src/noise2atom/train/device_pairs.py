"""Synthetic pairs drawn with torch on the training device (``train.pair_sampler = "torch"``).

:class:`~noise2atom.data.pairs.PairSampler` draws its batches with numpy on one CPU core; on a GPU
that was half of a ``paper`` pair step (docs/performance.md). :class:`DevicePairSampler` draws the
same kind of pairs — the same simulator, the same measured noise, background, atom size and drift,
the same sites moving, vanishing and appearing between context frames — with torch, on whichever
device trains, so the batch never leaves it. It is the numpy sampler's arithmetic written for
tensors: every frame of a batch's short movies rendered in one batched matrix product, the
background crops gathered by indexing, the counts drawn by ``torch.poisson``.

Its random numbers come from a ``torch.Generator`` on the device, so its batches follow the same
distributions as the numpy sampler's but are other draws: a run with it trains other weights than
one with the numpy sampler, and the arena judged it (docs/benchmarks.md). A resumed run continues
the generator's stream (:meth:`DevicePairSampler.state`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.pairs import HEIGHT_RANGE, MISSING_PAST, MOVE_PX, PairSampler, noise_terms


class DevicePairSampler:
    """Batches of a :class:`~noise2atom.data.pairs.PairSampler`'s kind, drawn with torch on ``device``.

    Parameters
    ----------
    sampler : PairSampler
        What was measured on the series (noise, backgrounds, atom size, drift, normalisation, crop,
        context frames); its own random generator is not used.
    device : torch.device or str
    seed : int
        Seed of the device's generator (the trainer sets :attr:`rng` per attempt instead).
    """

    def __init__(self, sampler: PairSampler, device, seed: int = 0):
        if not isinstance(sampler, PairSampler):
            raise TypeError(f"DevicePairSampler needs one series' PairSampler, not {type(sampler).__name__}")
        self.device = torch.device(device)
        self.context, self.size = sampler.context, sampler.size
        self.change_prob = sampler.change_prob
        self.fit, self.normalization = sampler.fit, sampler.normalization
        sim = sampler.simulation
        self.sites, self.atoms_per_site, self.variance_px2 = sim.sites, sim.atoms_per_site, sim.variance_px2
        self.lattice_px, self.half = sim.lattice_px, sim.kernel_px // 2
        self.backgrounds = torch.as_tensor(np.asarray(sampler.backgrounds, dtype=np.float32), device=self.device)
        self.shifts = torch.as_tensor(sampler.shifts, dtype=torch.float32, device=self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))

    # -- random state ----------------------------------------------------------------------------
    @property
    def rng(self) -> torch.Generator:
        return self.generator

    @rng.setter
    def rng(self, rng: np.random.Generator) -> None:
        """A numpy generator seeds the device's generator (the trainer's per-attempt streams)."""
        self.generator.manual_seed(int(rng.integers(0, 2**63 - 1)))

    def state(self) -> list[int]:
        """The generator's state, JSON-able (a checkpoint's ``pair_rng``)."""
        return self.generator.get_state().tolist()

    def load_state(self, state: list[int]) -> None:
        self.generator.set_state(torch.tensor(state, dtype=torch.uint8))

    # -- drawing ---------------------------------------------------------------------------------
    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _randint(self, low: int, high: int, *shape) -> torch.Tensor:
        """Integers in [low, high)."""
        return torch.randint(low, high, shape, generator=self.generator, device=self.device)

    def _normal(self, std: float, shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device) * std

    def _render(self, y: torch.Tensor, x: torch.Tensor, atoms: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        """(n, size, size) convolved site counts, not normalised (``data.clean.render_clean``'s
        ``normalize=False``): ``Gy diag(atoms) Gx^T`` with the Gaussian truncated to the kernel."""
        c, L, half = self.size, self.lattice_px, self.half
        var = var[:, None, None]
        coords = (torch.arange(c, device=self.device, dtype=torch.float32) + (L - c) // 2)[None, :, None]
        taps = torch.arange(-half, half + 1, device=self.device, dtype=torch.float32)[None, :]
        norm = torch.exp(-(taps**2) / (2 * var[:, :, 0])).sum(dim=1)[:, None, None]

        def axis_weights(site: torch.Tensor) -> torch.Tensor:
            d = coords - site[:, None, :]
            return torch.exp(-(d**2) / (2 * var)) * (d.abs() <= half) / norm  # (n, size, K)

        return torch.bmm(axis_weights(y) * atoms[:, None, :], axis_weights(x).transpose(1, 2))

    def _noise(self, expected: torch.Tensor) -> torch.Tensor:
        """``data.pairs.add_noise``: Poisson counts at the measured gain, read noise or dark level,
        the scan direction's 2-tap correlation."""
        w, gain, dark, read = noise_terms(self.fit)
        lam = torch.cat([expected[..., :1], expected], dim=-1)
        counts = gain * torch.poisson((lam - dark).clamp_min(0.0) / gain, generator=self.generator) + dark
        if read > 0:
            counts = counts + self._normal(read, counts.shape)
        return (1 - w) * counts[..., 1:] + w * counts[..., :-1]

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        n = self.normalization
        return ((x - n.low) * (2.0 / (n.high - n.low)) - 1.0).clamp(-1.0, 1.0)

    def batch(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean): (b, 1 + context, size, size) and (b, 1, size, size), float32 in [-1, 1], on
        the device. Frame 0 of each noisy movie is the current one, frames 1.. go back in time (with
        no context frames, the movie is the current frame alone)."""
        c, k, p = self.size, self.context, self.change_prob
        L, (lo, hi), (a_lo, a_hi) = self.lattice_px, self.sites, self.atoms_per_site
        # the current frame's sites: n_sites distinct lattice points, 1-4 atoms each (data.clean)
        n_sites = self._randint(lo, hi + 1, b)
        pos = self._rand(b, L * L).topk(hi, dim=1).indices  # a random subset, in random order
        atoms = self._randint(a_lo, a_hi + 1, b, hi) * (torch.arange(hi, device=self.device) < n_sites[:, None])
        v_lo, v_hi = self.variance_px2
        var = v_lo + (v_hi - v_lo) * self._rand(b)
        # as many candidate sites, empty now, that may hold an atom in earlier frames (one that left)
        extra = L * self._rand(2, b, hi)
        ys = torch.cat([(pos // L).float(), extra[0]], dim=1)
        xs = torch.cat([(pos % L).float(), extra[1]], dim=1)
        atoms = torch.cat([atoms, torch.zeros_like(atoms)], dim=1).float()
        candidate = torch.arange(2 * hi, device=self.device)[None, :] >= hi
        shift = torch.zeros(b, 2, device=self.device)
        start = self._randint(0, len(self.shifts), b)  # a run of consecutive measured shifts
        frames, shifts = [], []
        for j in range(k + 1):
            if j > 0:
                shift = shift + self.shifts[(start - j + 1) % len(self.shifts)]
                r = self._rand(*ys.shape)
                move = r < p / 2
                ys = ys + move * self._normal(MOVE_PX, ys.shape)
                xs = xs + move * self._normal(MOVE_PX, xs.shape)
                atoms = torch.where((r >= p / 2) & (r < 3 * p / 4), 0.0, atoms)  # landed after this frame
                atoms = torch.where((r >= 3 * p / 4) & (r < p) & candidate, 1.0, atoms)  # left after it
            frames.append((ys + shift[:, :1], xs + shift[:, 1:], atoms))
            shifts.append(shift)
        y, x, a = (torch.cat(parts) for parts in zip(*frames))  # all frames in one product
        imgs = self._render(y, x, a, var.repeat(k + 1)).view(k + 1, b, c, c)
        # data.pairs.movie_peak: the current frame's peak, at least half the brightest frame's
        now = imgs[0].flatten(1).amax(dim=1)
        every = imgs.flatten(2).amax(dim=2).amax(dim=0)
        peak = torch.maximum(now, 0.5 * every)
        peak = torch.where(peak > 0, peak, torch.ones_like(peak))[:, None, None]
        t, h, w = self.backgrounds.shape
        ti = self._randint(0, t, b)[:, None, None]
        y0 = self._randint(0, h - c + 1, b)
        x0 = self._randint(0, w - c + 1, b)
        lo_h, hi_h = HEIGHT_RANGE
        heights = (lo_h + (hi_h - lo_h) * self._rand(b, 1, 1)) * self.fit.atom_height
        ar = torch.arange(c, device=self.device)
        sh = torch.stack(shifts)  # (k + 1, b, 2)
        oy = (y0 - torch.round(sh[..., 0]).long()).clamp(0, h - c)  # the background drifts along
        ox = (x0 - torch.round(sh[..., 1]).long()).clamp(0, w - c)
        bg = self.backgrounds[ti[None], (oy[..., None] + ar)[..., :, None], (ox[..., None] + ar)[..., None, :]]
        frames_noisy = self._normalize(self._noise(bg + heights * imgs / peak))  # (k + 1, b, c, c)
        noisy = frames_noisy.flip(0).transpose(0, 1).contiguous()  # oldest first, the current frame last
        if k > 0:  # series start: the oldest frames are copies of the oldest one present
            missing = self._rand(b) < MISSING_PAST
            first = self._randint(1, k + 1, b)  # channel of the oldest frame present
            ch = torch.arange(k + 1, device=self.device)[None, :]
            index = torch.where(missing[:, None] & (ch < first[:, None]), first[:, None], ch)
            noisy = noisy.gather(1, index[:, :, None, None].expand(-1, -1, c, c))
        clean = 2.0 * (imgs[0] / peak).clamp(0.0, 1.0) - 1.0
        return noisy, clean[:, None]
