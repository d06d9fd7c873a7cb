"""Undo a blur that lies evenly over a noise-free photo, instead of denoising it: measured, then inverted.

The network is trained on blurred crops too, but it is blind: it cannot tell a soft photo from a
blurred one, so it sharpens very little (CBSD68 at a 1.5 px blur: +0.16 dB over the input,
docs/RESULTS.md). A blur spread over the whole photo can be measured instead, from its sharpest
edges, and where it measurably is, a Wiener filter for a Gaussian of that width undoes most of it.

The measure (Zhuo and Sim, "Defocus map estimation from a single image", 2011): at a step edge
blurred by a Gaussian of width s, the gradient's peak falls by sqrt(s^2 + s0^2) / s when the
photo is blurred again by s0, so the ratio R of the two peaks gives s = s0 / sqrt(R^2 - 1). It is
read at the strongest edges of the luma, for edges across x and across y separately, and
the photo counts as blurred only as much as the sharper of the two says: a photo blurred along
one direction only (motion, on purpose or not) is then left alone, and a photo with too few
strong edges of either kind is not judged at all.

Only noise-free inputs are deblurred (``max_noise``), and they are not denoised after: there is
nothing to denoise, and the network would soften what the filter restored. On validation, a
noisy blurred photo deblurred first and denoised after gained on average but lost up to 6 dB
on smooth photos: the filter turns white noise into coloured noise that the network, trained
on white noise, leaves in (docs/RESULTS.md, "Deblurring evenly blurred photos"). Known limit:
noise that the blur itself smoothed (noise first, then blur) reads as no noise, so such a photo
is deblurred and part of its noise comes back. ``max_smoothed_noise`` catches most of it
(``smoothed_noise``); ``denoise`` names every photo it deblurred.

Settings live in the sidecar under ``deblur`` (``DEFAULT_DEBLUR`` fills gaps); a sidecar without
the key has no deblurring, so older weights keep their outputs.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from denoisecli.errors import DenoiseError
from denoisecli.noise import LUMA, estimate_noise_level

DEFAULT_DEBLUR = {
    "threshold": 1.1,  # px: below this measured blur a photo is left as it is
    "noise_ratio": 0.01,  # the Wiener filter's noise-to-signal ratio: larger undoes less, rings less
    "max_noise": 0.5,  # luma noise, 0-255 scale: noisier inputs are not judged (see above)
    "max_sigma": 3.0,  # px: the widest blur undone (the training blur's range)
    "edge_fraction": 0.02,  # the strongest gradients read
    "percentile": 20,  # of the per-edge widths: the sharp edges of a photo say how blurred it is
    "reblur": 1.0,  # s0, px
    # Noise the blur itself smoothed (noise first, then blur) escapes ``max_noise``: at a scale of
    # twice the blur it is white again, and unlike texture it is everywhere, so the flattest
    # parts of the photo show it. Luma noise there (0-255, ``smoothed_noise``) above this: refused.
    "max_smoothed_noise": 0.5,
}
MIN_EDGES = 25  # per direction
MAX_MEASURED_SIDE = 2048  # larger photos are measured on their centre: memory and time stay bounded
NOISE_BLOCK = 16  # px of the decimated photo, for ``smoothed_noise``
MIN_GRADIENT = 0.02  # on [0, 1]: weaker edges are too shallow to measure
_LUMA = np.array(LUMA, dtype=np.float32)


def deblur_settings(sidecar: dict) -> dict | None:
    """The sidecar's deblur settings with defaults filled in, or None where it has none."""
    settings = sidecar.get("deblur")
    if settings is None:
        return None
    unknown = set(settings) - set(DEFAULT_DEBLUR)
    if unknown:
        raise DenoiseError(f"unknown deblur settings in the sidecar: {', '.join(sorted(unknown))}")
    return {**DEFAULT_DEBLUR, **settings}


def luma(pixels: np.ndarray) -> np.ndarray:
    """H x W x C in [0, 1] -> H x W: Rec. 601 luma of RGB (alpha ignored), or the gray channel
    itself (C = 1, or 2 with alpha)."""
    if pixels.shape[2] < 3:
        return np.ascontiguousarray(pixels[..., 0], dtype=np.float32)
    return np.ascontiguousarray(pixels[..., :3].astype(np.float32, copy=False) @ _LUMA)


def measure_blur(gray: np.ndarray, settings: dict = DEFAULT_DEBLUR) -> float:
    """The width (px) of the Gaussian blur that ``gray`` (H x W on [0, 1]) shows at its sharpest
    edges, the sharper of the two edge directions; NaN where either has too few strong edges."""
    gray = np.ascontiguousarray(gray, dtype=np.float32)
    reblur = settings["reblur"]
    across_x, across_y = _gradients(gray)
    magnitude = np.hypot(across_x, across_y)
    reblurred = np.hypot(*_gradients(cv2.GaussianBlur(gray, (0, 0), reblur, borderType=cv2.BORDER_REFLECT)))
    strong = magnitude >= max(np.quantile(magnitude, 1 - settings["edge_fraction"]), MIN_GRADIENT)
    peaks = strong & (magnitude >= cv2.dilate(magnitude, np.ones((3, 3), np.uint8)))  # one per edge profile
    widths = []
    for direction in (np.abs(across_x) > np.abs(across_y), np.abs(across_x) <= np.abs(across_y)):
        ratio = magnitude[peaks & direction] / np.maximum(reblurred[peaks & direction], 1e-6)
        ratio = ratio[ratio > 1.0001]  # an edge the reblur did not soften measures nothing
        if ratio.size < MIN_EDGES:
            return math.nan
        widths.append(float(np.percentile(reblur / np.sqrt(ratio**2 - 1), settings["percentile"])))
    return min(widths)


def _measured_luma(pixels: np.ndarray) -> np.ndarray:
    """The luma of the photo's centre, at most ``MAX_MEASURED_SIDE`` on a side: what is measured."""
    height, width = pixels.shape[:2]
    top, left = max(0, (height - MAX_MEASURED_SIDE) // 2), max(0, (width - MAX_MEASURED_SIDE) // 2)
    return luma(pixels[top : top + MAX_MEASURED_SIDE, left : left + MAX_MEASURED_SIDE])


def luma_noise(pixels: np.ndarray) -> float:
    """The fine-scale luma noise (0-255) ``blur_to_undo`` reads off a photo (H x W x C on [0, 1]);
    NaN for one under 16 px. A blurred photo reads near 0; noise and fine texture read above."""
    gray = _measured_luma(pixels)
    if min(gray.shape) < 16:
        return math.nan
    return float(estimate_noise_level(torch.from_numpy(gray)[None, None], step=2)[0]) * 255


def blur_to_undo(pixels: np.ndarray, settings: dict = DEFAULT_DEBLUR, noise: float | None = None) -> float:
    """The Gaussian width (px) ``deblur`` should undo in this input (H x W x C on [0, 1]); 0 for none.
    ``noise``: the photo's ``luma_noise`` where the caller has already read it."""
    noise = luma_noise(pixels) if noise is None else noise
    if not noise <= settings["max_noise"]:  # NaN (a photo under 16 px) included
        return 0.0
    gray = _measured_luma(pixels)  # only noise-free photos get this far
    blur = measure_blur(gray, settings)
    if not blur >= settings["threshold"]:  # NaN included
        return 0.0
    if smoothed_noise(gray, blur) > settings["max_smoothed_noise"]:
        return 0.0
    return min(blur, settings["max_sigma"])


def smoothed_noise(gray: np.ndarray, blur: float) -> float:
    """Luma noise (0-255) in the flattest parts of ``gray`` at the scale of a ``blur`` px blur.

    The photo is decimated by 2 x ``blur``, where noise smoothed by that blur is close to white
    again; the noise estimate (median second difference) is taken per block of
    ``NOISE_BLOCK`` px, and the 10th percentile over blocks is returned: texture fills some
    blocks, noise all of them. A photo too small for a block gets the estimate over all of it.
    """
    step = max(2, round(2 * blur))
    small = torch.from_numpy(np.ascontiguousarray(gray[::step, ::step]))[None, None]
    height, width = (side // NOISE_BLOCK * NOISE_BLOCK for side in small.shape[-2:])
    if not (height and width):
        return float(estimate_noise_level(small)[0]) * 255
    blocks = small[..., :height, :width].unfold(2, NOISE_BLOCK, NOISE_BLOCK).unfold(3, NOISE_BLOCK, NOISE_BLOCK)
    levels = estimate_noise_level(blocks.reshape(-1, 1, NOISE_BLOCK, NOISE_BLOCK))
    return float(torch.quantile(levels.float(), 0.1)) * 255


def wiener_kernel(sigma: float, noise_ratio: float) -> np.ndarray:
    """The spatial Wiener filter that inverts a Gaussian blur of ``sigma`` px, cut at 10 sigma
    (its ripples are negligible there) and summing to 1, so flat areas keep their level."""
    radius = math.ceil(10 * sigma)
    size = 1 << (8 * radius).bit_length()  # a frequency grid far finer than the kernel
    frequency = np.fft.fftfreq(size)
    transfer = np.exp(-2 * math.pi**2 * sigma**2 * (frequency[:, None] ** 2 + frequency[None, :] ** 2))
    kernel = np.fft.fftshift(np.real(np.fft.ifft2(transfer / (transfer**2 + noise_ratio))))
    centre = size // 2
    kernel = kernel[centre - radius : centre + radius + 1, centre - radius : centre + radius + 1]
    return (kernel / kernel.sum()).astype(np.float32)


def deblur(pixels: np.ndarray, sigma: float, noise_ratio: float = DEFAULT_DEBLUR["noise_ratio"]) -> np.ndarray:
    """Undo a Gaussian blur of ``sigma`` px in ``pixels`` (H x W x C float32 in [0, 1]) in place,
    clipped to [0, 1], and return it. In place, one channel at a time: a photo's memory stays
    at one full-size array plus a plane."""
    if sigma <= 0:
        return pixels
    kernel = wiener_kernel(sigma, noise_ratio)
    for channel in range(pixels.shape[2]):
        plane = np.ascontiguousarray(pixels[..., channel])
        pixels[..., channel] = cv2.filter2D(plane, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return np.clip(pixels, 0, 1, out=pixels)


def _gradients(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Sobel / 8: the per-pixel slope of a linear ramp, so thresholds read on the [0, 1] scale
    return (
        cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / 8,
        cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / 8,
    )
