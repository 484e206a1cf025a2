"""Noise2Void (Krull, Buchholz & Jug, CVPR 2019) as an arena baseline, with StructN2V's scan-line mask.

Training: random 64² crops of the normalised noisy frames; in each crop about 1.5 % of the pixels
are "blind spots": the network input has each replaced by a random neighbour from its 5 x 5 window
(N2V's uniform-neighbour replacement), and the loss is the squared error between the output and the
original noisy value at those pixels only. Because the arena's (and real) scan noise is correlated
with the next pixel along x, a plain blind spot lets the network read the noise from x +- 1; as in
StructN2V (Broaddus et al. 2020), those two neighbours are replaced too, by random pixels of the crop.
The network is this package's U-Net (depth 2, width 16, 2 residual blocks, ~0.3 M parameters),
trained with Adam (lr 4e-4) for a wall-clock budget; it then denoises whole frames.

CAREamics was not used: it pulls in PyTorch Lightning and pydantic pins for what is a 60-line
training loop here, and the structured mask is what matters for this noise.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..data.normalize import Normalization
from ..denoise.inference import denoise_frames
from ..models.generator import Generator


def blind_spot_batch(crops: np.ndarray, rng: np.random.Generator, *, fraction: float = 0.015,
                     radius: int = 2, struct_x: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """N2V input and mask for a batch of crops (B, H, W): returns (masked input, boolean mask of blind spots)."""
    b, h, w = crops.shape
    n = max(1, int(round(fraction * h * w)))
    x = crops.copy()
    mask = np.zeros_like(crops, dtype=bool)
    for i in range(b):
        ys = rng.integers(0, h, n)
        xs = rng.integers(0, w, n)
        dy = rng.integers(-radius, radius + 1, n)
        dx = rng.integers(-radius, radius + 1, n)
        same = (dy == 0) & (dx == 0)
        dy[same] = 1  # never the pixel itself
        ny = np.clip(ys + dy, 0, h - 1)
        nx = np.clip(xs + dx, 0, w - 1)
        x[i, ys, xs] = crops[i, ny, nx]
        for s in range(1, struct_x + 1):  # StructN2V: hide the correlated neighbours along the scan
            for sx in (xs - s, xs + s):
                ok = (sx >= 0) & (sx < w)
                x[i, ys[ok], sx[ok]] = crops[i, rng.integers(0, h, ok.sum()), rng.integers(0, w, ok.sum())]
        mask[i, ys, xs] = True
    return x, mask


def train_n2v(noisy: np.ndarray, *, seed: int = 0, minutes: float = 1.0, max_steps: int | None = None,
              crop: int = 64, batch: int = 16, width: int = 16, struct_x: int = 1, device: str = "cpu"):
    """Train Noise2Void on ``noisy`` (T, Y, X) and return its denoised series (a ``methods.Output``)."""
    from .methods import Output

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    noisy = np.asarray(noisy, dtype=np.float32)
    norm = Normalization.fit(noisy)
    frames = norm.forward(noisy)
    T, H, W = frames.shape
    c = min(crop, H // 8 * 8, W // 8 * 8)
    net = Generator(width=width, res_blocks=2, depth=2).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=4e-4)
    deadline = t0 + 60 * minutes
    step = 0
    while (max_steps is None or step < max_steps) and (max_steps is not None or time.perf_counter() < deadline):
        idx = rng.integers(0, T, batch)
        ys = rng.integers(0, H - c + 1, batch)
        xs = rng.integers(0, W - c + 1, batch)
        crops = np.stack([frames[i, y:y + c, x:x + c] for i, y, x in zip(idx, ys, xs)])
        flips = rng.integers(0, 2, batch).astype(bool)  # y-flips keep the scan direction; x-flips would not
        crops[flips] = crops[flips, ::-1]
        inp, mask = blind_spot_batch(crops, rng, struct_x=struct_x)
        out = net(torch.from_numpy(inp[:, None]).to(device))  # tanh output, same [-1, 1] scale as the input
        m = torch.from_numpy(mask[:, None]).to(device)
        target = torch.from_numpy(crops[:, None]).to(device)
        loss = ((out - target)[m] ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    fit = time.perf_counter() - t0
    net.eval()
    den = np.stack(list(denoise_frames(net, frames, tile_px=None, overlap_px=0, batch_size=4,
                                       size_multiple=net.size_multiple, device=torch.device(device))))
    return Output(norm.inverse(den), {"steps": step, "struct_x": struct_x, "loss": float(loss.detach())}, fit)
