"""The fixed input for golden-output tests: a small noisy photo-like image made in code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import smooth_rgb

from denoisecli.inference import Denoiser


def golden_output(weights: Path) -> list[float]:
    """The full pipeline's RGB output on a fixed 24x32 noisy image, every 7th value."""
    clean = smooth_rgb(24, 32, seed=42)
    noise = np.random.default_rng(42).normal(0, 25 / 255, clean.shape).astype(np.float32)
    noisy = np.clip(clean + noise, 0, 1)
    with torch.no_grad():
        output = Denoiser.load(weights, torch.device("cpu")).pixels(noisy)
    return output.flatten()[::7].astype(float).tolist()
