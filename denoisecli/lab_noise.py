"""What noise added in RGB does to LAB, so the A/B smoothing can take out what it cannot average.

LAB is a non-linear function of RGB, so a camera's zero-mean RGB noise is not zero-mean in LAB:
at sigma 25 the noisy A of a CBSD68 photo reads about 2 units above the clean one. A smoother
averages noise away and keeps its mean, so that bias reached the output whole. And the noise in
A and B moves with the noise in L (a correlation of about -0.6 and +0.55 on grey), which the
denoised L gives away: noisy L minus denoised L is mostly L's noise. ``corrected_chroma`` takes
both out of the noisy A/B before they are smoothed (docs/RESULTS.md, "The chroma path's bias").
The same correlation runs the other way: A/B's noise is nearly all of A/B's fine detail, and it
predicts part of L's noise (about 40% of its variance on grey), which ``lightness_correction``
takes out of the noisy L that the restore step gives detail back from.

Both are read off the unscented transform at an estimate of the clean colour: LAB at the six
points that are sqrt(3) sigma along R, G and B. Their mean minus the centre's LAB is the bias
(exact for any cubic, and right for Gaussian noise's fourth moment along each axis); their
differences are the slopes of L, A and B per unit of R, G and B, from which follow LAB's noise
covariance, the share of A and B's noise that L's predicts and the share of L's that A and B's
predict. Noise in a saved photo was clipped at black and white, so the points are clipped too
unless the photo's own values show the noise was not (float inputs, as in the papers' protocol).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from denoisecli.color import gaussian_blur, lab_to_rgb, rgb_to_lab, scale_lightness
from denoisecli.noise import estimate_noise_level, saturated

# The bias and the slopes follow the colour, which is smooth: computed at an eighth of the
# resolution and interpolated, CBSD68's PSNR is the same to 0.01 dB as at full resolution
# (docs/RESULTS.md), for 1/64 of the LAB conversions. A multiple of DETAIL_BLOCK.
CORRECTION_SCALE = 8
# ``lightness_correction`` reads A/B's noise as what differs from their means over blocks this
# size, and weighs it by its power over the same blocks.
DETAIL_BLOCK = 4
_CLIPPED_TOLERANCE = 1e-4  # LAB -> RGB round trip error, well under an 8-bit level
_RGB_SATURATION = 1e-3  # RGB values this close to 0 or 1 measure no noise (impulses, clipping)


def _median_noise_level(images: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per image (N), the median over C channels (N x C x H x W) of their noise levels, read off
    the ``valid`` pixels (N x C x H x W) of every fourth window each way: 60,000 per channel on a
    megapixel, for a quarter of the time of every second."""
    count, channels, height, width = images.shape
    flat, valid = (t.reshape(count * channels, 1, height, width) for t in (images, valid))
    return estimate_noise_level(flat, valid, step=4).view(count, channels).median(dim=1).values


def rgb_noise_level(rgb: torch.Tensor) -> torch.Tensor:
    """Per image (N), the noise level of RGB (N x 3 x H x W, [0, 1]): the median of the three
    channels' (``noise.estimate_noise_level``), saturated values left out."""
    return _median_noise_level(rgb, (rgb > _RGB_SATURATION) & (rgb < 1 - _RGB_SATURATION))


def rgb_noise_level_from_differences(rgb: torch.Tensor) -> torch.Tensor:
    """Per image (N), the noise level of RGB (N x 3 x H x W) read off the channels' differences,
    (R - G) / sqrt 2, (G - B) / sqrt 2, (B - R) / sqrt 2, as ``rgb_noise_level`` reads it off
    the channels.

    Noise drawn independently in R, G and B, which is what the LAB noise model corrects for,
    has the same level in the differences; texture, mostly shared by the three channels, mostly
    cancels there. On clean textured photos the channels read 5-10 (0-255) and the differences
    about 1 (docs/RESULTS.md, "The fourth rule (fifteenth session)")."""
    differences = (rgb - rgb.roll(-1, dims=1)) / 2**0.5  # R - G, G - B, B - R
    at_a_bound = ((rgb <= _RGB_SATURATION) | (rgb >= 1 - _RGB_SATURATION)).any(dim=1, keepdim=True)
    return _median_noise_level(differences, (~at_a_bound).expand_as(differences))


def noise_was_clipped(rgb: torch.Tensor) -> bool:
    """Whether RGB (N x 3 x H x W) lies within [0, 1]: noise added to it was then clipped, as in
    every saved photo. Unclipped float noise on a photo of any size strays outside."""
    return bool(rgb.min() >= -_CLIPPED_TOLERANCE) and bool(rgb.max() <= 1 + _CLIPPED_TOLERANCE)


class LabNoise(NamedTuple):
    """What a photo's RGB noise does to its LAB, per pixel, at 1/``scale`` of its resolution.

    ``bias`` (N x 3): the noise's mean in L, A and B. ``chroma_slope`` (N x 2): A and B's noise
    per unit of L's. ``lightness_slope`` (N x 2): L's noise per unit of A's and of B's, jointly
    (the regression of L's noise on both). ``chroma_variance`` (N x 2): A and B's noise variance.
    ``residual_variance`` (N x 2): what is left of it once the share L's noise predicts is out,
    as ``corrected_chroma`` takes it out.
    """

    bias: torch.Tensor
    chroma_slope: torch.Tensor
    lightness_slope: torch.Tensor
    chroma_variance: torch.Tensor
    scale: int
    residual_variance: torch.Tensor


def lab_noise_statistics(lab: torch.Tensor, sigma: torch.Tensor, clipped: bool, scale: int = 1) -> LabNoise:
    """At each pixel of a noise-free LAB (N x 3 x H x W), what RGB noise of standard deviation
    ``sigma`` (per image, N) does to LAB, by the unscented transform (module docstring)."""
    centre = lab_to_rgb(lab, clip=False).clamp(0, 1)
    step = (3.0**0.5) * sigma.view(-1, 1, 1).to(centre)
    # The six sigma points (each RGB channel moved by +step, then -step) and the centre, in one
    # batch through one conversion: on a GPU the step is bound by the number of operations.
    moves = torch.eye(3, dtype=centre.dtype, device=centre.device).repeat_interleave(2, dim=0)
    moves[1::2] *= -1  # +R, -R, +G, -G, +B, -B
    moved = centre[None] + moves.view(6, 1, 3, 1, 1) * step.view(1, -1, 1, 1, 1)
    moved = moved.clamp(0, 1) if clipped else moved
    points = rgb_to_lab(torch.cat([moved.flatten(0, 1), centre])).unflatten(0, (7, -1))  # 7 x N x 3 x H x W
    plus, minus = points[0:6:2], points[1:6:2]  # per RGB channel, 3 x N x 3 x H x W
    bias = (plus + minus).sum(dim=0) / 6 - points[6]
    # LAB's change per sigma of each RGB channel (LAB at +step minus LAB at -step: the points are
    # 2 sqrt(3) sigma apart), and from it LAB's noise covariance for white RGB noise, written out
    # elementwise: batched 3 x 3 products and 2 x 2 solves cost more than the rest of the step on
    # a CPU.
    jacobian = (plus - minus).movedim(0, 2) / (2 * 3.0**0.5)  # N x 3 (LAB) x 3 (RGB) x H x W
    lightness, chroma = jacobian[:, :1], jacobian[:, 1:]
    lightness_variance = lightness.square().sum(dim=2)  # N x 1 x H x W
    cross = (chroma * lightness).sum(dim=2)  # N x 2: covariance of A, B with L
    chroma_variance = chroma.square().sum(dim=2)  # N x 2
    chroma_slope = cross / lightness_variance.clamp_min(1e-12)
    a_with_b = (chroma[:, :1] * chroma[:, 1:]).sum(dim=2)  # N x 1
    a_variance, b_variance = chroma_variance.split(1, dim=1)
    determinant = (a_variance * b_variance - a_with_b.square()).clamp_min(1e-12)
    a_cross, b_cross = cross.split(1, dim=1)
    lightness_slope = (
        torch.cat([b_variance * a_cross - a_with_b * b_cross, a_variance * b_cross - a_with_b * a_cross], dim=1)
        / determinant
    )
    residual_variance = (chroma_variance - chroma_slope * cross).clamp_min(0)
    return LabNoise(bias, chroma_slope, lightness_slope, chroma_variance, scale, residual_variance)


class RgbNoise(NamedTuple):
    """A photo's RGB noise: its level per image (N), whether it was clipped, and the level the
    L correction takes (``lightness_sigma``, N; ``sigma`` unless read off the differences too)."""

    sigma: torch.Tensor
    clipped: bool
    lightness_sigma: torch.Tensor


def rgb_noise(noisy_rgb: torch.Tensor, from_differences: bool = False) -> RgbNoise | None:
    """``rgb_noise_level`` and ``noise_was_clipped`` of a noisy RGB (N x 3), and with
    ``from_differences`` the smaller of that level and ``rgb_noise_level_from_differences`` for
    the L correction: it must not take a clean photo's texture for noise, while the A/B
    correction gains on such photos at the channels' level (docs/RESULTS.md, "The fifth rule
    (fifteenth session)"). None for a photo that reads no noise at all."""
    sigma = rgb_noise_level(noisy_rgb)
    if not bool((sigma > 0).any()):
        return None
    lightness_sigma = torch.minimum(sigma, rgb_noise_level_from_differences(noisy_rgb)) if from_differences else sigma
    return RgbNoise(sigma, noise_was_clipped(noisy_rgb), lightness_sigma)


def lab_noise(rgb: RgbNoise, lightness: torch.Tensor, chroma: torch.Tensor, scale: int = CORRECTION_SCALE) -> LabNoise:
    """The ``LabNoise`` of a photo with RGB noise ``rgb``, around the clean colour estimated from
    ``lightness`` (a denoised L, N x 1, [0, 100]) and the blurred ``chroma`` (its A/B, N x 2) at
    1/``scale`` of the resolution."""
    estimate = F.avg_pool2d(torch.cat([lightness, chroma], dim=1), scale, ceil_mode=True)
    estimate = torch.cat([estimate[:, :1], gaussian_blur(estimate[:, 1:], 3.0 / scale)], dim=1)
    return lab_noise_statistics(estimate, rgb.sigma, rgb.clipped, scale)


def _full_size(field: torch.Tensor, scale: int, like: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """``field``, computed at 1/``scale`` of ``like``'s resolution, brought to ``like``'s size."""
    height, width = like.shape[-2:]
    return F.interpolate(field, scale_factor=float(scale), mode=mode)[..., :height, :width]


def corrected_chroma(
    noisy_lab: torch.Tensor, lightness: torch.Tensor, filled: torch.Tensor, weights: torch.Tensor, noise: LabNoise
) -> torch.Tensor:
    """``filled`` (the noisy A/B, N x 2 x H x W, impulses filled) with the bias of its noise and
    the share of its noise that L's predicts taken out.

    ``lightness`` is the denoised L (N x 1, [0, 100]) and ``weights`` the trust in each noisy
    pixel (``color.outlier_weights``): an impulse's L tells nothing about its A/B noise.
    """
    fields = _full_size(torch.cat([noise.bias, noise.chroma_slope], dim=1), noise.scale, filled)
    bias, slope = fields.split([3, 2], dim=1)
    lightness_noise = (noisy_lab[:, :1] - lightness - bias[:, :1]) * weights
    return filled - bias[:, 1:] - slope * lightness_noise


def residual_chroma_variance(noise: LabNoise, like: torch.Tensor) -> torch.Tensor:
    """``noise.residual_variance`` at full size (N x 2, ``like``'s height and width)."""
    return _full_size(noise.residual_variance, noise.scale, like)


def lightness_correction(
    noisy_lab: torch.Tensor, noise: LabNoise, variance_scale: torch.Tensor | float = 1.0
) -> torch.Tensor:
    """The part of the noisy L's noise (N x 1 x H x W, L units) that the noisy A/B's noise predicts.

    A/B's noise is read as their fine detail: the noisy A/B minus their block means
    (``DETAIL_BLOCK``), interpolated. Where that detail's power (over the same blocks) is above
    the noise's variance it is colour, not noise, and counts for that much less (a Wiener
    gain). Around impulses (black or white L: the blocks that hold one and their neighbours)
    there is no correction: an impulse's A/B tell nothing of L's noise, and it is in its
    block's mean.
    ``variance_scale`` (per image, N) scales the noise variance of ``noise`` for that gain: the
    square of a lower noise level over the one ``noise`` was computed at.
    """
    chroma, block = noisy_lab[:, 1:], DETAIL_BLOCK
    detail = chroma - _full_size(F.avg_pool2d(chroma, block, ceil_mode=True), block, chroma)
    power = F.avg_pool2d(detail.square(), block, ceil_mode=True)
    variance = _full_size(noise.chroma_variance, noise.scale // block, power)
    variance = variance * torch.as_tensor(variance_scale, dtype=variance.dtype).reshape(-1, 1, 1, 1)
    gain = _full_size((variance / power.clamp_min(1e-6)).clamp(max=1.0), block, chroma)
    slope = _full_size(noise.lightness_slope, noise.scale, chroma)
    correction = (slope * gain * detail).sum(dim=1, keepdim=True)
    # Blocks that hold an impulse, and their neighbours: the impulse is in their means.
    impulses = F.max_pool2d(saturated(scale_lightness(noisy_lab[:, :1])).float(), block, ceil_mode=True)
    impulses = F.max_pool2d(impulses, 3, stride=1, padding=1)
    return correction * (1 - _full_size(impulses, block, chroma, mode="nearest"))
