"""What noise added in RGB does to LAB, so the A/B smoothing can take out what it cannot average.

LAB is a non-linear function of RGB, so a camera's zero-mean RGB noise is not zero-mean in LAB:
at sigma 25 the noisy A of a CBSD68 photo reads about 2 units above the clean one. A smoother
averages noise away and keeps its mean, so that bias reached the output whole. And the noise in
A and B moves with the noise in L (a correlation of about -0.6 and +0.55 on grey), which the
denoised L gives away: noisy L minus denoised L is mostly L's noise. ``corrected_chroma`` takes
both out of the noisy A/B before they are smoothed (docs/RESULTS.md, "The chroma path's bias").

Both are read off the unscented transform at an estimate of the clean colour: LAB at the six
points that are sqrt(3) sigma along R, G and B. Their mean minus the centre's LAB is the bias
(exact for any cubic, and right for Gaussian noise's fourth moment along each axis); their
differences are the slopes of L, A and B per unit of R, G and B, from which follows the share
of A and B's noise that L's predicts. Noise in a saved photo was clipped at black and white, so
the points are clipped too unless the photo's own values show the noise was not (float inputs,
as in the papers' protocol).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from denoisecli.color import gaussian_blur, lab_to_rgb, rgb_to_lab
from denoisecli.noise import estimate_noise_level

# The bias and the slopes follow the colour, which is smooth: computed at an eighth of the
# resolution and interpolated, CBSD68's PSNR is the same to 0.01 dB as at full resolution
# (docs/RESULTS.md), for 1/64 of the LAB conversions.
CORRECTION_SCALE = 8
_CLIPPED_TOLERANCE = 1e-4  # LAB -> RGB round trip error, well under an 8-bit level
_RGB_SATURATION = 1e-3  # RGB values this close to 0 or 1 measure no noise (impulses, clipping)


def rgb_noise_level(rgb: torch.Tensor) -> torch.Tensor:
    """Per image (N), the noise level of RGB (N x 3 x H x W, [0, 1]): the median of the three
    channels' (``noise.estimate_noise_level``), saturated values left out. Every fourth window
    each way: 60,000 per channel on a megapixel, for a quarter of the time of every second."""
    count, channels, height, width = rgb.shape
    flat = rgb.reshape(count * channels, 1, height, width)
    valid = (flat > _RGB_SATURATION) & (flat < 1 - _RGB_SATURATION)
    return estimate_noise_level(flat, valid, step=4).view(count, channels).median(dim=1).values


def noise_was_clipped(rgb: torch.Tensor) -> bool:
    """Whether RGB (N x 3 x H x W) lies within [0, 1]: noise added to it was then clipped, as in
    every saved photo. Unclipped float noise on a photo of any size strays outside."""
    return bool(rgb.min() >= -_CLIPPED_TOLERANCE) and bool(rgb.max() <= 1 + _CLIPPED_TOLERANCE)


def lab_noise_statistics(lab: torch.Tensor, sigma: torch.Tensor, clipped: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """At each pixel of a noise-free LAB (N x 3 x H x W), what RGB noise of standard deviation
    ``sigma`` (per image, N) does to LAB: its mean (N x 3, the bias) and the slopes of A and B's
    noise on L's (N x 2), by the unscented transform (module docstring)."""
    centre = lab_to_rgb(lab, clip=False).clamp(0, 1)
    step = (3.0**0.5) * sigma.view(-1, 1, 1).to(centre)
    total = torch.zeros_like(lab)
    slopes = []  # per RGB channel: LAB at +step minus LAB at -step, N x 3 x H x W
    for channel in range(3):
        points = []
        for sign in (1.0, -1.0):
            moved = centre.clone()
            moved[:, channel] += sign * step
            points.append(rgb_to_lab(moved.clamp(0, 1) if clipped else moved))
        total += points[0] + points[1]
        slopes.append(points[0] - points[1])
    bias = total / 6 - rgb_to_lab(centre)
    jacobian = torch.stack(slopes, dim=2)  # N x 3 (LAB) x 3 (RGB) x H x W
    lightness, chroma = jacobian[:, :1], jacobian[:, 1:]
    # Regression slope of A/B noise on L noise for white RGB noise: (J_ab . J_L) / |J_L|^2.
    slope = (chroma * lightness).sum(dim=2) / lightness.square().sum(dim=2).clamp_min(1e-12)
    return bias, slope


def corrected_chroma(
    noisy_lab: torch.Tensor,
    lightness: torch.Tensor,
    filled: torch.Tensor,
    weights: torch.Tensor,
    noisy_rgb: torch.Tensor | None = None,
    scale: int = CORRECTION_SCALE,
) -> torch.Tensor:
    """``filled`` (the noisy A/B, N x 2 x H x W, impulses filled) with the bias of its noise and
    the share of its noise that L's predicts taken out.

    ``lightness`` is the denoised L (N x 1, [0, 100]) and ``weights`` the trust in each noisy
    pixel (``color.outlier_weights``): an impulse's L tells nothing about its A/B noise. The
    clean colour is estimated from the denoised L and the blurred A/B, at 1/``scale`` of the
    resolution, and the noise level from the noisy RGB (``noisy_rgb``, N x 3; converted back from
    ``noisy_lab`` when not given).
    """
    if noisy_rgb is None:
        noisy_rgb = lab_to_rgb(noisy_lab, clip=False)
    sigma = rgb_noise_level(noisy_rgb)
    if not bool((sigma > 0).any()):
        return filled
    height, width = filled.shape[-2:]
    estimate = F.avg_pool2d(torch.cat([lightness, filled], dim=1), scale, ceil_mode=True)
    estimate = torch.cat([estimate[:, :1], gaussian_blur(estimate[:, 1:], 3.0 / scale)], dim=1)
    bias, slope = lab_noise_statistics(estimate, sigma, noise_was_clipped(noisy_rgb))
    corrections = F.interpolate(torch.cat([bias, slope], dim=1), scale_factor=scale, mode="bilinear")
    bias, slope = corrections[..., :height, :width].split([3, 2], dim=1)
    lightness_noise = (noisy_lab[:, :1] - lightness - bias[:, :1]) * weights
    return filled - bias[:, 1:] - slope * lightness_noise
