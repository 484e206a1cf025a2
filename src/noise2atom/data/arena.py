"""The arena's generator: realistic noisy HAADF-STEM movies of Pt on carbon with ground truth.

It is independent of the clean-domain simulator the network trains on (``data.clean``): that one
draws isolated Gaussian peaks on a jittered lattice; this one builds a physical scene and images it.

Scene
    Heavy atoms (Pt, Z = 78) as single adatoms and as small clusters: a cluster is a patch of a
    close-packed lattice (nearest-neighbour distance 0.277 nm, randomly rotated) whose projected
    columns hold 1-3 atoms (more in the middle, as in a 3-D particle). They sit on an amorphous
    light support (carbon, Z = 6) of uneven thickness: a smooth random thickness map (and, when
    asked, a wedge -- a background gradient across the field) times an atomic-scale texture, the
    Poisson number of carbon atoms in each pixel's column.
Contrast
    HAADF intensity of a column grows as (number of atoms) x Z^1.7 (``z_exponent``); the support as
    thickness x density x Z_support^1.7. Nothing is normalised per atom: a Pt column stands out
    over the carbon by what physics gives, about 2-5x the support's mean at the defaults.
Probe
    A finite probe: a Gaussian core (FWHM ``probe_fwhm_nm``) plus a broad tail holding
    ``probe_tail`` of the intensity (an aberration-corrected probe's skirt); every atom's width is
    further scaled by a random factor (thermal vibration, height, focus), so no two peaks are the
    same Gaussian.
Scan and detector
    ``dose`` is the mean detected electrons per pixel of a frame. Counts are Poisson; each scan
    line is displaced by a small random amount along x (scan jitter); each detected electron gives a
    scintillator pulse of random height (gamma-distributed, mean 1: ``pulse_shape``); the detector's finite
    bandwidth correlates the noise along the fast scan direction x (lag-1 correlation
    ``scan_correlation``, none at lag 2: the real Pt-on-carbon frames show about 0.5 at lag 1 along x,
    about 0 at lag 2 and little along y);
    Gaussian read noise; rare glitches that saturate the ADC.
Movie
    The field drifts (a random walk with momentum); single atoms hop, land and leave; cluster
    columns jitter and now and then a surface column moves to a free neighbouring site.

The truth: ``clean`` (the expected counts, support included), ``atoms`` (the heavy-atom part alone,
what Noise2Atom aims to restore) and a table of the true column positions in every frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

PT_PT_NM = 0.277  # nearest-neighbour distance in Pt


@dataclass(frozen=True)
class SynthConfig:
    """Physical and acquisition parameters of a synthetic movie (defaults: Pt on ~10 nm of carbon)."""

    frames: int = 20
    size: int = 128
    dose: float = 2.0                 # mean detected electrons per pixel per frame
    seed: int = 0
    pixel_size_nm: float = 0.05
    z_heavy: int = 78                 # Pt
    z_support: int = 6                # C
    z_exponent: float = 1.7
    support_thickness_nm: float = 10.0
    support_density_per_nm3: float = 100.0   # amorphous carbon, ~2 g/cm³
    thickness_variation: float = 0.3  # relative std of the smooth thickness map
    gradient: float = 0.0             # relative thickness change across the field (0 = none)
    probe_fwhm_nm: float = 0.15
    probe_tail: float = 0.25          # fraction of the probe's intensity in the broad tail
    probe_tail_factor: float = 4.0    # tail width / core width
    width_jitter: float = 0.12        # relative std of each atom's peak width
    atoms_per_nm2: float = 0.6        # heavy atoms (single + in clusters) per nm²
    cluster_fraction: float = 0.7     # share of heavy atoms that sit in clusters
    cluster_atoms: tuple = (4, 30)    # atoms per cluster (min, max)
    scan_correlation: float = 0.5     # lag-1 noise correlation along the fast scan (x), at most 0.5
    scan_jitter_px: float = 0.15      # std of each scan line's displacement along x
    pulse_shape: float = 1.5          # gamma shape of one electron's detector pulse height (0 = ideal counting)
    read_noise: float = 0.2           # detector read noise, in electrons
    glitch_prob: float = 5e-5         # share of pixels hit by a saturating glitch
    drift_px: float = 0.3             # std of the frame-to-frame drift change, pixels
    hop_prob: float = 0.05            # chance per frame that a single atom hops
    hop_px: float = 2.0
    turnover_prob: float = 0.01       # chance per frame that a single atom leaves (and as many land)
    rearrange_prob: float = 0.1       # chance per frame that a cluster moves one surface column
    thermal_px: float = 0.05          # std of every column's position jitter per frame

    def __post_init__(self):
        problems = []
        if self.frames < 1:
            problems.append(f"frames must be >= 1, got {self.frames}")
        if self.size < 16:
            problems.append(f"size must be >= 16 pixels, got {self.size}")
        if not self.dose > 0:
            problems.append(f"dose must be > 0 electrons per pixel, got {self.dose}")
        if not self.pixel_size_nm > 0:
            problems.append(f"pixel_size_nm must be > 0, got {self.pixel_size_nm}")
        if not 0 <= self.scan_correlation <= 0.5:
            problems.append(f"scan_correlation must be in [0, 0.5], got {self.scan_correlation}")
        if not 0 <= self.probe_tail < 1:
            problems.append(f"probe_tail must be in [0, 1), got {self.probe_tail}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def probe_sigma_px(self) -> float:
        return self.probe_fwhm_nm / self.pixel_size_nm / 2.3548

    @property
    def saturation(self) -> float:
        """The ADC ceiling in counts: glitches sit there; Poisson counts of the scene stay below."""
        return float(np.ceil(12 * self.dose + 12))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cluster_atoms"] = list(self.cluster_atoms)
        return d


@dataclass
class SynthMovie:
    """noisy, clean, atoms: (T, Y, X) float32; columns: one dict of arrays per frame with ``y``, ``x``
    (pixels), ``n_atoms`` (atoms in the column), ``cluster`` (-1 for single atoms) and ``id``."""

    noisy: np.ndarray
    clean: np.ndarray
    atoms: np.ndarray
    columns: list
    config: SynthConfig
    support: np.ndarray = field(repr=False, default=None)

    @property
    def positions(self) -> list:
        """One (n, 2) array of true (y, x) column positions per frame (for ``metrics.atom_score``)."""
        return [np.stack([c["y"], c["x"]], axis=1) for c in self.columns]

    def table(self) -> list[dict]:
        """The positions table: one row per column and frame."""
        rows = []
        for t, c in enumerate(self.columns):
            for i in range(len(c["y"])):
                rows.append({"frame": t, "id": int(c["id"][i]), "y_px": float(c["y"][i]), "x_px": float(c["x"][i]),
                             "n_atoms": int(c["n_atoms"][i]), "cluster": int(c["cluster"][i])})
        return rows


def scan_filter_weight(rho: float) -> float:
    """Weight w of the 2-tap scan filter [1 - w, w] whose lag-1 correlation of white noise is ``rho`` (<= 0.5):
    rho = w(1 - w) / (1 - 2w + 2w²), solved for w in [0, 0.5]."""
    rho = float(np.clip(rho, 0.0, 0.5))
    return 0.5 * (1 - np.sqrt(1 - 4 * rho / (2 * rho + 1)))


def _hex_sites(n_rings: int) -> np.ndarray:
    """Sites of a unit close-packed (triangular) lattice within ``n_rings`` of the origin."""
    i, j = np.mgrid[-n_rings:n_rings + 1, -n_rings:n_rings + 1]
    pts = np.stack([i + 0.5 * j, j * np.sqrt(3) / 2], axis=-1).reshape(-1, 2)
    return pts[np.linalg.norm(pts, axis=1) <= n_rings + 1e-6]


def _grow_cluster(rng, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """A compact patch of a triangular lattice (unit spacing) holding ``n_atoms`` atoms in columns of 1-3."""
    n_cols = max(1, int(round(n_atoms / rng.uniform(1.0, 1.8))))
    sites = _hex_sites(8)
    chosen = [int(np.argmin(np.linalg.norm(sites, axis=1)))]
    while len(chosen) < n_cols:
        d = np.linalg.norm(sites[:, None] - sites[chosen][None], axis=2)
        near = np.where((d.min(axis=1) > 0.5) & (d.min(axis=1) < 1.01))[0]
        # favour sites with many occupied neighbours (compact particles)
        weight = ((d[near] < 1.01).sum(axis=1)) ** 2.0
        chosen.append(int(rng.choice(near, p=weight / weight.sum())))
    cols = sites[chosen]
    # more atoms in the middle of the particle
    r = np.linalg.norm(cols - cols.mean(axis=0), axis=1)
    depth = np.clip(np.round(3 - 2 * r / (r.max() + 1e-9) + rng.normal(0, 0.4, len(cols))), 1, 3).astype(int)
    theta = rng.uniform(0, np.pi / 3)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return cols @ rot.T, depth


def _render_peaks(shape, ys, xs, heights, sigmas) -> np.ndarray:
    """Sum of normalised 2-D Gaussians (integral = height) at sub-pixel positions, vectorised over peaks."""
    img = np.zeros(shape[0] * shape[1])
    if len(ys) == 0:
        return img.reshape(shape)
    half = int(np.ceil(4 * sigmas.max()))
    k = np.arange(-half, half + 1)
    iy = np.floor(ys).astype(int)[:, None] + k[None]
    ix = np.floor(xs).astype(int)[:, None] + k[None]
    s = sigmas[:, None]
    gy = np.exp(-((iy - ys[:, None]) ** 2) / (2 * s * s))
    gx = np.exp(-((ix - xs[:, None]) ** 2) / (2 * s * s))
    vals = (heights / (2 * np.pi * sigmas**2))[:, None, None] * gy[:, :, None] * gx[:, None, :]
    ok = ((iy >= 0) & (iy < shape[0]))[:, :, None] & ((ix >= 0) & (ix < shape[1]))[:, None, :]
    flat = (iy[:, :, None] * shape[1] + ix[:, None, :])
    img += np.bincount(flat[ok], weights=vals[ok], minlength=img.size)
    return img.reshape(shape)


def _probe(img: np.ndarray, cfg: SynthConfig) -> np.ndarray:
    """Add the probe's broad tail to an image already blurred by the probe's core."""
    if cfg.probe_tail <= 0:
        return img
    s = cfg.probe_sigma_px
    extra = s * np.sqrt(cfg.probe_tail_factor**2 - 1)
    return (1 - cfg.probe_tail) * img + cfg.probe_tail * gaussian_filter(img, extra, mode="nearest")


def synthesize(config: SynthConfig | None = None, **overrides) -> SynthMovie:
    """Generate one movie; ``synthesize(frames=20, size=128, dose=1.0, seed=3)`` or with a ``SynthConfig``.

    Seeded: the same configuration gives the same arrays, bit for bit.
    """
    cfg = config or SynthConfig()
    if overrides:
        cfg = replace(cfg, **overrides)
    rng = np.random.default_rng(cfg.seed)
    n, T = cfg.size, cfg.frames
    px_nm = cfg.pixel_size_nm
    spacing = PT_PT_NM / px_nm
    sigma = cfg.probe_sigma_px
    margin = int(np.ceil(6 * sigma + 8))
    canvas = n + 2 * margin  # the scene is larger than the field, so drift brings new matter in

    # support: smooth thickness map (and wedge) x Poisson carbon atoms per pixel column, probe-blurred
    thick = gaussian_filter(rng.normal(size=(canvas, canvas)), sigma=max(n / 6, 4), mode="wrap")
    thick = 1 + cfg.thickness_variation * thick / (thick.std() + 1e-12)
    if cfg.gradient:
        ang = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas - 0.5
        thick = thick * (1 + cfg.gradient * (np.cos(ang) * xx + np.sin(ang) * yy))
    thick = np.clip(thick, 0.05, None)
    c_per_px = cfg.support_density_per_nm3 * cfg.support_thickness_nm * px_nm**2
    carbon = rng.poisson(c_per_px * thick).astype(np.float64)
    support = gaussian_filter(carbon, sigma, mode="wrap") * float(cfg.z_support) ** cfg.z_exponent
    support = _probe(support, cfg)

    # heavy atoms: clusters of lattice columns and single adatoms, in canvas coordinates
    area_nm2 = (canvas * px_nm) ** 2
    n_heavy = rng.poisson(cfg.atoms_per_nm2 * area_nm2)
    n_in_clusters = int(round(cfg.cluster_fraction * n_heavy))
    cols, depth, cluster_id, placed = [], [], [], []
    cid = 0
    while n_in_clusters > 0:
        k = int(min(n_in_clusters, rng.integers(cfg.cluster_atoms[0], cfg.cluster_atoms[1] + 1)))
        c, d = _grow_cluster(rng, k)
        radius = (np.linalg.norm(c - c.mean(axis=0), axis=1).max() + 1.5) * spacing
        for _ in range(50):  # particles do not overlap: a centre at least both radii away from the others
            centre = rng.uniform(0, canvas, size=2)
            if all(np.linalg.norm(centre - c0) >= radius + r0 for c0, r0 in placed):
                break
        placed.append((centre, radius))
        cols.append(centre + (c - c.mean(axis=0)) * spacing)
        depth.append(d)
        cluster_id.append(np.full(len(c), cid))
        cid += 1
        n_in_clusters -= int(d.sum())
    n_single = n_heavy - int(round(cfg.cluster_fraction * n_heavy))
    cols.append(rng.uniform(0, canvas, size=(max(n_single, 0), 2)))
    depth.append(np.ones(max(n_single, 0), dtype=int))
    cluster_id.append(np.full(max(n_single, 0), -1))
    pos = np.concatenate(cols).astype(np.float64)
    depth = np.concatenate(depth)
    cluster_id = np.concatenate(cluster_id)
    # no two columns closer than 0.9 nearest-neighbour distance (they would be one column)
    keep = np.ones(len(pos), bool)
    for i in range(len(pos)):
        if keep[i]:
            d = np.linalg.norm(pos[i + 1:] - pos[i], axis=1)
            keep[i + 1:] &= d >= 0.9 * spacing
    pos, depth, cluster_id = pos[keep], depth[keep], cluster_id[keep]
    ids = np.arange(len(pos))
    next_id = len(pos)
    width = sigma * np.clip(1 + cfg.width_jitter * rng.standard_normal(len(pos)), 0.6, 1.6)
    z_heavy = float(cfg.z_heavy) ** cfg.z_exponent

    def free_site_near(p, others):
        """A lattice-distance neighbour of p not within 0.9 spacing of any other column."""
        for _ in range(12):
            a = rng.uniform(0, 2 * np.pi)
            q = p + spacing * np.array([np.sin(a), np.cos(a)])
            if len(others) == 0 or np.linalg.norm(others - q, axis=1).min() >= 0.9 * spacing:
                return q
        return None

    # the detector's bandwidth mixes each pixel with the previous one along the scan (lag-2 correlation
    # zero, as in the real frames)
    w = scan_filter_weight(cfg.scan_correlation)
    shift = np.zeros(2)
    velocity = rng.normal(0, cfg.drift_px, size=2)
    noisy, clean, atoms, columns = [], [], [], []
    scale = None
    grid_y, grid_x = np.mgrid[0:n, 0:n].astype(np.float64)
    for t in range(T):
        if t > 0:
            velocity = 0.8 * velocity + rng.normal(0, cfg.drift_px, size=2)
            shift = shift + velocity
            pos = pos + rng.normal(0, cfg.thermal_px, size=pos.shape)
            single = np.where(cluster_id < 0)[0]
            hop = single[rng.random(len(single)) < cfg.hop_prob]
            pos[hop] += rng.normal(0, cfg.hop_px, size=(len(hop), 2))
            leave = single[rng.random(len(single)) < cfg.turnover_prob]
            n_land = len(leave)
            if n_land:
                keep = np.ones(len(pos), bool)
                keep[leave] = False
                pos, depth, cluster_id, ids, width = pos[keep], depth[keep], cluster_id[keep], ids[keep], width[keep]
                pos = np.concatenate([pos, rng.uniform(0, canvas, size=(n_land, 2))])
                depth = np.concatenate([depth, np.ones(n_land, int)])
                cluster_id = np.concatenate([cluster_id, np.full(n_land, -1)])
                ids = np.concatenate([ids, np.arange(next_id, next_id + n_land)])
                width = np.concatenate([width, sigma * np.clip(1 + cfg.width_jitter * rng.standard_normal(n_land),
                                                               0.6, 1.6)])
                next_id += n_land
            for c in np.unique(cluster_id[cluster_id >= 0]):
                if rng.random() < cfg.rearrange_prob:
                    members = np.where(cluster_id == c)[0]
                    centre = pos[members].mean(axis=0)
                    outer = members[np.argmax(np.linalg.norm(pos[members] - centre, axis=1) + rng.random(len(members)))]
                    anchor = pos[rng.choice(members)]
                    others = np.delete(pos, outer, axis=0)
                    q = free_site_near(anchor, others)
                    if q is not None:
                        pos[outer] = q
        # field of view: canvas pixels [margin + shift, margin + shift + n)
        origin = margin + shift
        yx = pos - origin
        # scene -> expected counts (before dose scaling), with each scan line displaced along x
        jitter = rng.normal(0, cfg.scan_jitter_px, size=n)
        sy = grid_y + origin[0]
        sx = grid_x + origin[1] + jitter[:, None]
        sup = map_coordinates(support, [sy, sx], order=1, mode="wrap")
        inside = (yx[:, 0] > -3 * sigma - 2) & (yx[:, 0] < n + 3 * sigma + 2) & \
                 (yx[:, 1] > -3 * sigma - 2) & (yx[:, 1] < n + 3 * sigma + 2)
        heavy = _render_peaks((n, n), yx[inside, 0], yx[inside, 1], depth[inside] * z_heavy, width[inside])
        if cfg.scan_jitter_px > 0:
            heavy = map_coordinates(heavy, [grid_y, grid_x + jitter[:, None]], order=1, mode="nearest")
        heavy = _probe(heavy, cfg)
        if scale is None:
            scale = cfg.dose / (sup + heavy).mean()  # dose fixed from frame 0: later frames keep the scale
        lam = (sup + heavy) * scale
        counts = rng.poisson(lam).astype(np.float64)
        if cfg.pulse_shape > 0:  # scintillator + photomultiplier: each electron gives a random pulse height
            hit = counts > 0
            counts[hit] = rng.gamma(counts[hit] * cfg.pulse_shape, 1.0 / cfg.pulse_shape)
        if w > 0:
            counts[:, 1:] = (1 - w) * counts[:, 1:] + w * counts[:, :-1]
        counts += rng.normal(0, cfg.read_noise, size=counts.shape)
        glitch = rng.random(counts.shape) < cfg.glitch_prob
        counts[glitch] = cfg.saturation
        counts = np.clip(counts, None, cfg.saturation)
        noisy.append(counts.astype(np.float32))
        clean.append(lam.astype(np.float32))
        atoms.append((heavy * scale).astype(np.float32))
        vis = (yx[:, 0] >= 0) & (yx[:, 0] <= n - 1) & (yx[:, 1] >= 0) & (yx[:, 1] <= n - 1)
        columns.append({"y": yx[vis, 0].copy(), "x": yx[vis, 1].copy(), "n_atoms": depth[vis].copy(),
                        "cluster": cluster_id[vis].copy(), "id": ids[vis].copy()})
    return SynthMovie(np.stack(noisy), np.stack(clean), np.stack(atoms), columns, cfg,
                      support=(support * scale).astype(np.float32))


SYNTH_FILES = ("noisy.tif", "clean.tif", "atoms.tif", "positions.csv", "config.json")


def save_synth(movie: SynthMovie, folder, *, overwrite: bool = False) -> list:
    """Write a movie into ``folder``: noisy/clean/atoms float32 ImageJ TIFFs (pixel size in nm), the positions
    table (frame, id, y_px, x_px, y_nm, x_nm, n_atoms, cluster) and the configuration. Refuses to replace
    existing files unless ``overwrite``; checks every name before writing anything."""
    import csv
    import json
    from pathlib import Path

    from ..errors import InputError
    from ..io import check_output, write_tiff

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in SYNTH_FILES]
    for p in paths:
        check_output(p, overwrite=overwrite)
    px = movie.config.pixel_size_nm
    for name, arr in (("noisy.tif", movie.noisy), ("clean.tif", movie.clean), ("atoms.tif", movie.atoms)):
        write_tiff(folder / name, arr, pixel_size=px, unit="nm", overwrite=overwrite)
    tmp = folder / "positions.csv.partial"
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "id", "y_px", "x_px", "y_nm", "x_nm", "n_atoms", "cluster"])
        for r in movie.table():
            w.writerow([r["frame"], r["id"], f"{r['y_px']:.4f}", f"{r['x_px']:.4f}", f"{r['y_px'] * px:.5f}",
                        f"{r['x_px'] * px:.5f}", r["n_atoms"], r["cluster"]])
    tmp.replace(folder / "positions.csv")
    (folder / "config.json").write_text(json.dumps({"generator": "noise2atom.data.arena", **movie.config.to_dict(),
                                                    "saturation": movie.config.saturation}, indent=2))
    return paths


def read_positions(path) -> list:
    """The positions table written by ``save_synth`` -> one (n, 2) array of (y, x) pixels per frame."""
    data = np.genfromtxt(path, delimiter=",", names=True)
    data = np.atleast_1d(data)
    n_frames = int(data["frame"].max()) + 1 if data.size else 0
    return [np.stack([data["y_px"][data["frame"] == t], data["x_px"][data["frame"] == t]], axis=1)
            for t in range(n_frames)]
