"""Give back the detail a smoother took, where it stands above the noise.

The network (on L) and the chroma filter (on A/B) remove whatever looks like noise to them; on a
clean or lightly noisy photo that includes real texture (the shipped network hands back a clean
photo as if blurred by 0.7 px). So each output is corrected by a local Wiener gain on what was
removed, r = input - output: where r's local power P is no more than the noise variance s^2 of
the input, r was noise and stays out; where P is much larger it was mostly signal and goes back:

    restored = output + max(0, 1 - strength * s^2 / P) * r

s is estimated from the input itself (``noise.estimate_noise_level``), so the step adapts to each
photo: a clean photo comes back nearly untouched, a very noisy one gets the smoother's output.
Impulses (salt-and-pepper, dead or hot pixels) have a huge r and would be put back, so pixels
that are saturated, or whose r is an outlier against its 3x3 neighbourhood, are never restored;
nor are places where the output is sharper than the input (a model deblurring). An isolated
saturated impulse instead takes the mean of its trusted neighbours (``isolated_impulses``,
``fill_impulses``), a better guess there than the network's own fill.
``docs/RESULTS.md`` ("Restoring detail") has the measurements behind the settings.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch
import torch.nn.functional as F

from denoisecli.color import box_filter, pad_edges
from denoisecli.noise import saturated

_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation, for Gaussian noise
SHARPENING_RADIUS = 3
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
SHARPENING_MARGIN = 1.25  # 25% more fine-detail energy than the input: not rounding, a real change
SHARPENING_FLOOR = 1e-10  # and more than this much (scaled L squared): a flat input's zero is not "less"


def median3x3(image: torch.Tensor) -> torch.Tensor:
    """Median of every 3x3 neighbourhood (reflect-padded), by Paeth's 19-exchange sorting network.

    Elementwise min/max over nine shifted views: several times faster on CPU than sorting an
    unfolded copy, and no 9x copy of the image.
    """
    padded = pad_edges(image, (1, 1, 1, 1))
    height, width = image.shape[-2:]
    return _median9([padded[..., dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)])


def _median9(p: list[torch.Tensor]) -> torch.Tensor:
    """Elementwise median of nine equal-shaped tensors (Paeth's network; reorders ``p``)."""

    def exchange(i: int, j: int) -> None:
        p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])

    for i, j in [(1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3)]:
        exchange(i, j)
    for i, j in [(5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)]:
        exchange(i, j)
    return p[4].contiguous()


def trusted_pixels(
    noisy: torch.Tensor,
    removed: torch.Tensor,
    sigma: torch.Tensor,
    impulse_threshold: float,
    sharpening_guard: bool = True,
) -> torch.Tensor:
    """1 where ``removed`` (noisy - smoothed L) may be given back; 0 at saturated and impulse pixels,
    and, with ``sharpening_guard``, where the model sharpened (``sharpened``).

    An impulse's residual stands out from its neighbours' (their 3x3 median); texture's does not.
    A line one pixel wide, or a single bright dot, also stands out and stays as the model left it:
    the price of never putting back a hot pixel (measured in docs/RESULTS.md).
    """
    scale = torch.maximum(median3x3(removed.abs()) * _MAD_TO_SIGMA, sigma)
    untrusted = saturated(noisy) | (removed.abs() > impulse_threshold * scale)
    if sharpening_guard:
        untrusted |= sharpened(noisy, noisy - removed)
    return (~untrusted).to(noisy.dtype)


def check_sharpening_guard(value) -> None:
    """Raise ValueError unless ``value`` (a sidecar's ``restore.sharpening_guard``) is None, a bool,
    or ``{"max_noise": N}`` with N >= 0: the guard on only for photos whose fine-scale luma noise
    (``deblur.luma_noise``, 0-255) reads at most N, the ones that may be blurred
    (``inference.Denoiser``)."""
    if value is None or isinstance(value, bool):
        return
    try:
        valid = set(value) == {"max_noise"} and float(value["max_noise"]) >= 0
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"sharpening_guard must be true, false or {{'max_noise': N >= 0}}, got {value!r}")


def sharpened(noisy: torch.Tensor, output: torch.Tensor, radius: int = SHARPENING_RADIUS) -> torch.Tensor:
    """Where ``output`` has more fine detail than ``noisy``: a model deblurring, not smoothing.

    Restoring there would undo the sharpening (a blurred input has almost no noise, so all of the
    change would be "given back"). Fine detail = local energy of the 3x3 Laplacian. On a clean
    photo it also fires where the input is flat and the network is not (any output detail is
    "more" than none), which keeps the network's small errors there: without the guard the
    shipped ``skip`` hands a clean CBSD68 photo back 1.65 dB closer, but loses 0.08 dB on the
    blurred photos the deblurring step leaves to it (sidecar ``restore.sharpening_guard``;
    docs/RESULTS.md, "The sixth rule").
    """

    def detail_energy(image: torch.Tensor) -> torch.Tensor:
        return box_filter(F.conv2d(pad_edges(image, (1, 1, 1, 1)), _LAPLACIAN.to(image).view(1, 1, 3, 3)) ** 2, radius)

    return detail_energy(output) > SHARPENING_MARGIN * detail_energy(noisy) + SHARPENING_FLOOR


def restore_detail(
    noisy: torch.Tensor,
    smoothed: torch.Tensor,
    sigma: torch.Tensor,
    strength: float,
    radius: int,
    trusted: torch.Tensor,
) -> torch.Tensor:
    """``smoothed`` plus the Wiener-gained part of ``noisy - smoothed`` (see the module docstring).

    ``sigma`` broadcasts against the images (N x C x 1 x 1); ``trusted`` (N x 1 x H x W) masks
    pixels out of both the local power and the result. ``strength`` 0 returns ``noisy`` where
    trusted; a large one returns ``smoothed``.
    """
    removed = noisy - smoothed
    power = box_filter(removed * removed * trusted, radius) / box_filter(trusted, radius).clamp_min(1e-3)
    gain = (1 - strength * sigma**2 / power.clamp_min(1e-12)).clamp(0, 1) * trusted
    return smoothed + gain * removed


def strength_multiplier(noise: torch.Tensor, schedule: list | None) -> torch.Tensor | float:
    """How much to scale the restore strengths at the estimated noise level ``noise`` (any shape,
    L units 0-100): piecewise linear through ``schedule``'s [noise, multiplier] points, constant
    beyond the first and last. None (a sidecar without ``strength_by_noise``) is 1 everywhere.

    Why: the local Wiener gain treats what the network removed as noise plus lost signal. On a
    clean or lightly noisy photo that is right or even cautious; on a very noisy one the
    network's residual is mostly noise that the local power test reads as signal, so the same
    gain gives noise back (docs/RESULTS.md, "A restore strength that follows the noise").
    """
    if not schedule:
        return 1.0
    levels = torch.tensor([float(level) for level, _ in schedule], dtype=noise.dtype, device=noise.device)
    multipliers = torch.tensor([float(m) for _, m in schedule], dtype=noise.dtype, device=noise.device)
    if len(schedule) == 1:
        return multipliers[0].expand_as(noise).clone()
    clamped = noise.clamp(levels[0], levels[-1])
    upper = torch.searchsorted(levels, clamped.contiguous(), right=True).clamp(1, len(schedule) - 1)
    low, high = levels[upper - 1], levels[upper]
    fraction = ((clamped - low) / (high - low)).clamp(0, 1)
    return multipliers[upper - 1] + fraction * (multipliers[upper] - multipliers[upper - 1])


def check_strength_schedule(schedule) -> None:
    """Raise ValueError unless ``schedule`` is None or [noise, multiplier] pairs with rising noise
    levels and multipliers of 0 or more."""
    if schedule is None:
        return
    try:
        levels = [float(level) for level, _ in schedule]
        multipliers = [float(m) for _, m in schedule]
    except (TypeError, ValueError):
        raise ValueError(f"strength_by_noise must be [noise, multiplier] pairs, got {schedule!r}") from None
    if not levels or any(b <= a for a, b in itertools.pairwise(levels)) or min(multipliers) < 0:
        raise ValueError(f"strength_by_noise needs rising noise levels and multipliers >= 0, got {schedule!r}")


class Impulses(NamedTuple):
    """Where isolated impulses sit (image, row, column; each of length n) and, per impulse, the
    weights of its 3x3 neighbourhood (n x 9: 1 for a trusted neighbour, 0 otherwise)."""

    image: torch.Tensor
    row: torch.Tensor
    column: torch.Tensor
    weights: torch.Tensor


MOST_UNTRUSTED = 2  # untrusted pixels an impulse's 3x3 may hold (itself included) and still be filled
_CHUNK = 1 << 20  # candidates per pass: bounds the n x 9 windows on photos with large clipped areas


def isolated_impulses(
    noisy: torch.Tensor,
    trusted: torch.Tensor,
    sigma: torch.Tensor,
    threshold: float,
    most_untrusted: int = MOST_UNTRUSTED,
) -> Impulses | None:
    """Saturated pixels of ``noisy`` (scaled L, N x 1 x H x W) that stand out from their 3x3 median
    by more than ``threshold * sigma`` and have at most ``most_untrusted`` untrusted pixels in
    their 3x3 (themselves included): salt-and-pepper, not a knockout block or a clipped highlight
    (those keep the model's output). A pixel with two untrusted neighbours on opposite sides is
    inside a clipped line one pixel wide (a wire against the sky), not in a cluster of salt, and
    is never filled (``_inside_a_line``). A pixel clipped by strong Gaussian noise in a dark or
    bright area is near its neighbours' median, and the network's output is the better guess there.

    Only the saturated pixels are looked at (most photos have none, a salt-and-pepper one a few
    percent), so this costs next to nothing beside the dense filters. None when there is none.
    """
    candidates = saturated(noisy).nonzero()
    if not len(candidates):
        return None
    padded_noisy, padded_trusted = pad_edges(noisy, (1, 1, 1, 1)), pad_edges(trusted, (1, 1, 1, 1))
    found = []
    for chunk in candidates.split(_CHUNK):
        image, row, column = chunk[:, 0], chunk[:, 2], chunk[:, 3]
        window = _windows(padded_noisy, image, row, column)[..., 0]
        median = window.median(dim=1).values  # one operation (the 3x3 filter's network is 38)
        stands_out = (window[:, 4] - median).abs() > threshold * sigma.reshape(-1)[image]
        weights = _windows(padded_trusted, image, row, column)[..., 0]
        keep = stands_out & (weights.sum(dim=1) > 9 - most_untrusted - 0.5) & ~_inside_a_line(weights)
        found.append((image[keep], row[keep], column[keep], weights[keep]))
    return Impulses(*(torch.cat(parts) for parts in zip(*found, strict=True)))


_RING = [0, 1, 2, 5, 8, 7, 6, 3]  # a 3x3 window's 8 neighbours (row-major indices) in order around it


def _inside_a_line(weights: torch.Tensor) -> torch.Tensor:
    """Per 3x3 window of trust weights (n x 9): its untrusted neighbours form a line through the
    centre (``line_through``)."""
    return line_through(weights[:, _RING] < 0.5)


def line_through(ring: torch.Tensor) -> torch.Tensor:
    """Per pixel (n x 8 bool: its neighbours in order around it, True where marked): exactly two
    marked neighbours, at least three steps apart around the ring, i.e. a line through the pixel,
    straight or bent by 45 degrees. Two marked neighbours side by side (an L or a corner) are a
    cluster, as salt makes. The restore step's fill and the fill before the network
    (``impulses``) both spare such lines."""
    steps = torch.arange(8, device=ring.device)
    first = torch.where(ring, steps, 8).amin(dim=1)
    last = torch.where(ring, steps, -1).amax(dim=1)
    apart = torch.minimum(last - first, 8 - (last - first))
    return (ring.sum(dim=1) == 2) & (apart >= 3)


def fill_impulses(image: torch.Tensor, impulses: Impulses | None) -> torch.Tensor:
    """``image`` (N x C x H x W) with each impulse replaced by the mean of its trusted neighbours.

    The neighbours were given back by ``restore_detail`` as the input had them, so their mean is
    the local value the impulse hid.
    """
    if impulses is None or not len(impulses.image):
        return image
    padded = pad_edges(image, (1, 1, 1, 1))
    filled = image.clone(memory_format=torch.contiguous_format)  # one copy, laid out for the flat index
    for which, row, column, weights in zip(*(part.split(_CHUNK) for part in impulses), strict=True):
        values = _windows(padded, which, row, column)  # n x 9 x C
        mean = (values * weights.unsqueeze(-1)).sum(dim=1) / weights.sum(dim=1, keepdim=True)
        filled.view(-1)[_flat_index(filled.shape, which, row, column)] = mean
    return filled


def _windows(padded: torch.Tensor, image: torch.Tensor, row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    """The 3x3 windows (n x 9 x C) of a 1-pixel-padded N x C x H x W tensor around (row, column).

    By flat index into the contiguous tensor: several times faster than advanced indexing.
    """
    steps = torch.arange(3, device=padded.device)
    within = (steps.view(3, 1) * padded.shape[-1] + steps).view(1, 9, 1)
    return padded.contiguous().view(-1)[_flat_index(padded.shape, image, row, column).unsqueeze(1) + within]


def _flat_index(shape: torch.Size, image: torch.Tensor, row: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
    """Indices (n x C) of (image, every channel, row, column) in a contiguous N x C x H x W tensor."""
    _, channels, height, width = shape
    planes = torch.arange(channels, device=image.device) * height * width
    return ((image * channels * height + row) * width + column).unsqueeze(1) + planes
