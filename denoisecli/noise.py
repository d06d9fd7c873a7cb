"""The four training corruptions, in RGB, batched, each drawing only from an explicit generator.

Every function takes N x C x H x W float images in [0, 1] and returns a new tensor of the same
shape; none of them clips, so callers choose between the literature's float protocol and a
quantised photo (``clip_to_photo``). A ``float`` parameter is fixed; a ``(low, high)`` pair is
drawn uniformly per image. Gaussian sigma is on the 0-255 scale, as in the literature.

``estimate_noise_level`` goes the other way: how noisy an image is, from the image alone (the
model's noise map and the chroma filter use it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

Range = float | tuple[float, float]

NOISE_NAMES = ("gaussian", "saltpepper", "blur", "knockout")
MIX_CHOICES = ("clean",) + NOISE_NAMES


def _per_image(value: Range, count: int, generator: torch.Generator, device) -> torch.Tensor:
    """A length-``count`` tensor: ``value`` repeated, or drawn uniformly from the pair."""
    if isinstance(value, (int, float)):
        return torch.full((count,), float(value), device=device)
    low, high = value
    if not low <= high:
        raise ValueError(f"range must have low <= high, got {value}")
    draw = torch.rand(count, generator=generator, device=generator.device).to(device)
    return low + (high - low) * draw


def gaussian(
    images: torch.Tensor, generator: torch.Generator, sigma: Range = 25.0, shared: float = 0.0
) -> torch.Tensor:
    """Additive white Gaussian noise of standard deviation ``sigma`` / 255, independent per channel.

    On a share ``shared`` of the images (drawn per image) the noise is the same in every channel:
    a gray photo's noise, which puts all of its sigma into L where independent RGB noise puts
    about three quarters (docs/RESULTS.md, "Gray AWGN"). 0 draws nothing more, so runs without
    it see the noise they always did.
    """
    sigmas = _per_image(sigma, images.shape[0], generator, images.device) / 255.0
    noise = torch.randn(images.shape, generator=generator, device=generator.device).to(images)
    gray = gray_photos(images, generator, shared)
    if gray is not None:
        noise = as_gray(noise, gray, channel=0)
    return images + noise * sigmas.view(-1, 1, 1, 1)


# ITU-R BT.601 luma weights (as MATLAB's rgb2gray): how a colour photo becomes a gray one here,
# in ``evaluate --gray``, training's gray crops and the deblurring step's measurements.
LUMA = (0.299, 0.587, 0.114)


def gray_photos(images: torch.Tensor, generator: torch.Generator, share: float) -> torch.Tensor | None:
    """Which of ``images`` (N x 3) to make gray photos: ``drawn_share`` with odds ``share``.

    A gray photo arrives with A and B at zero and its noise the same in R, G and B, all of its
    sigma in L; shown both kinds, the network can tell them apart by its A/B inputs
    (docs/RESULTS.md, "Gray AWGN"). ``as_gray`` makes the clean crop gray; the corrupted one
    then keeps one channel of its noisy copy in all three (``as_gray``'s ``channel``)."""
    return drawn_share(images, generator, share)


def drawn_share(images: torch.Tensor, generator: torch.Generator, share: float) -> torch.Tensor | None:
    """A per-image draw with odds ``share`` (N x 1 x 1 x 1 bool); None at 0, which leaves the
    generator untouched, so runs without the option see the noise they did."""
    if share <= 0:
        return None
    return (
        (torch.rand(images.shape[0], generator=generator, device=generator.device) < share)
        .to(images.device)
        .view(-1, 1, 1, 1)
    )


def luma(images: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> N x 1 x H x W: Rec. 601 luma of RGB (alpha ignored), or the gray channel
    itself (C under 3); ``deblur.luma`` for one photo in NumPy."""
    if images.shape[1] < 3:
        return images[:, :1]
    weights = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images[:, :3] * weights).sum(dim=1, keepdim=True)


def as_gray(images: torch.Tensor, which: torch.Tensor, channel: int | None = None) -> torch.Tensor:
    """``images`` (N x 3) with ``which`` of them gray: their luma in R, G and B, or with
    ``channel`` that one channel (a noisy gray crop: its noise is then the same in all three)."""
    if channel is None:
        gray = luma(images)
    else:
        gray = images[:, channel : channel + 1]
    return torch.where(which, gray.expand_as(images), images)


def salt_and_pepper(images: torch.Tensor, generator: torch.Generator, amount: float = 0.05) -> torch.Tensor:
    """Set a fraction ``amount`` of pixels (all channels together) to 0 or 1 with equal odds."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"salt-and-pepper amount must be in [0, 1], got {amount}")
    n, _, h, w = images.shape
    hit = torch.rand((n, 1, h, w), generator=generator, device=generator.device).to(images.device) < amount
    salt = torch.rand((n, 1, h, w), generator=generator, device=generator.device).to(images.device) < 0.5
    return torch.where(hit, salt.to(images.dtype), images)


def blur(images: torch.Tensor, generator: torch.Generator, sigma: Range = (0.5, 3.0)) -> torch.Tensor:
    """Gaussian blur with a per-image sigma (pixels), reflect-padded so the mean is kept."""
    n, channels, h, w = images.shape
    sigmas = _per_image(sigma, n, generator, images.device).clamp_min(1e-3)
    radius = max(1, math.ceil(3 * float(sigmas.max())))
    radius = min(radius, h - 1, w - 1)
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernels = torch.exp(-0.5 * (offsets.view(1, -1) / sigmas.view(-1, 1)) ** 2)
    kernels = kernels / kernels.sum(dim=1, keepdim=True)  # N x K, one kernel per image
    weight = kernels.repeat_interleave(channels, dim=0)  # one per (image, channel) group
    flat = images.reshape(1, n * channels, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, weight.view(n * channels, 1, -1, 1), groups=n * channels)
    flat = F.conv2d(flat, weight.view(n * channels, 1, 1, -1), groups=n * channels)
    return flat.view(n, channels, h, w)


def knockout(
    images: torch.Tensor, generator: torch.Generator, density: float = 0.05, max_size: int = 9
) -> torch.Tensor:
    """Zero randomly placed blocks, each 1..``max_size`` pixels high and wide (independently).

    ``density`` is the expected fraction of the image the blocks cover before overlaps.
    """
    n, _, h, w = images.shape
    mean_side = (1 + max_size) / 2
    count = max(1, round(density * h * w / mean_side**2))
    device = generator.device

    def draw_spans(length: int) -> torch.Tensor:
        sizes = torch.randint(1, max_size + 1, (n, count), generator=generator, device=device)
        starts = torch.randint(0, length, (n, count), generator=generator, device=device)
        positions = torch.arange(length, device=device).view(1, 1, -1)
        inside = (positions >= starts.unsqueeze(-1)) & (positions < (starts + sizes).unsqueeze(-1))
        return inside.float()  # N x count x length

    rows, columns = draw_spans(h), draw_spans(w)
    # A pixel is covered when some block spans both its row and its column: a batched matmul.
    covered = torch.bmm(rows.transpose(1, 2), columns) > 0  # N x H x W
    return images.masked_fill(covered.unsqueeze(1).to(images.device), 0.0)


@dataclass(frozen=True)
class NoiseSettings:
    """Parameters of every corruption, and the odds of each in ``mixed``."""

    gaussian_sigma: Range = (0.0, 55.0)
    saltpepper_amount: float = 0.05
    blur_sigma: Range = (0.5, 3.0)
    knockout_density: float = 0.05
    knockout_max_size: int = 9
    mix_weights: tuple[float, ...] = (1.0, 4.0, 1.0, 1.0, 1.0)  # MIX_CHOICES order
    gray_fraction: float = 0.0  # share of Gaussian noise drawn the same in every channel
    gray_crops: float = 0.0  # share of training crops made gray photos, noise and all (``gray_photos``)
    # Share of training crops whose noisy copy stays float, unclipped and unquantised, as the
    # papers' AWGN protocol makes it; the rest are clipped to 8 bits, as a saved photo is.
    unclipped: float = 0.0


def corruption(name: str, settings: NoiseSettings) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """The corruption called ``name`` (one of ``NOISE_NAMES``, ``clean`` or ``mixed``)."""
    table = {
        "clean": lambda images, generator: images.clone(),
        "gaussian": lambda images, generator: gaussian(
            images, generator, settings.gaussian_sigma, settings.gray_fraction
        ),
        "saltpepper": lambda images, generator: salt_and_pepper(images, generator, settings.saltpepper_amount),
        "blur": lambda images, generator: blur(images, generator, settings.blur_sigma),
        "knockout": lambda images, generator: knockout(
            images, generator, settings.knockout_density, settings.knockout_max_size
        ),
        "mixed": lambda images, generator: mixed(images, generator, settings),
    }
    if name not in table:
        raise ValueError(f"unknown noise {name!r}; choose from {', '.join(table)}")
    return table[name]


def mixed(images: torch.Tensor, generator: torch.Generator, settings: NoiseSettings = NoiseSettings()) -> torch.Tensor:
    """Per image, one of clean or the four noises, drawn with ``settings.mix_weights``."""
    weights = torch.tensor(settings.mix_weights, dtype=torch.float32, device=generator.device)
    choice = torch.multinomial(weights, images.shape[0], replacement=True, generator=generator).to(images.device)
    result = images.clone()
    for index, name in enumerate(MIX_CHOICES):
        # Every noise is drawn for the whole batch so the generator advances the same way whatever
        # the choices were; the selected images then take their own corruption.
        corrupted = corruption(name, settings)(images, generator)
        selected = (choice == index).view(-1, 1, 1, 1)
        result = torch.where(selected, corrupted, result)
    return result


def clip_to_photo(images: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
    """Clip to [0, 1] and round to the bit depth's levels: what a saved noisy photo holds."""
    levels = 2**bit_depth - 1
    return torch.round(images.clamp(0, 1) * levels) / levels


# L scaled to [-1, 1]: within 0.05 L units of black or white. An 8-bit value of 1 is 0.27 L units
# above black, so in 8-bit photos only true 0 and 255 count.
SATURATION_MARGIN = 1e-3


def saturated(lightness: torch.Tensor) -> torch.Tensor:
    """Pixels of scaled L (N x 1 x H x W in [-1, 1]) at black or white: they measure no noise."""
    return lightness.abs() >= 1 - SATURATION_MARGIN


# 3x3 second difference (Immerkaer 1996): blind to constant and linear image content; on white
# noise of standard deviation s its output has standard deviation 6 s.
_SECOND_DIFFERENCE = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


@torch.no_grad()
def estimate_noise_level(x: torch.Tensor, valid: torch.Tensor | None = None, step: int = 1) -> torch.Tensor:
    """Per image (N), the standard deviation of white noise in ``x`` (N x 1 x H x W).

    The median absolute response of the second-difference filter, which edges and texture move
    less than a mean would (most pixels of a photo are smooth). With ``valid`` (N x 1 x H x W
    bool), responses whose 3x3 window holds an invalid pixel are left out: saturated impulses
    would otherwise read as strong noise. An image with too few valid windows uses them all.
    ``step`` 2 takes every second window in each direction: a quarter of the work, and still
    hundreds of thousands of samples for the median on a photo.
    """
    kernel = _SECOND_DIFFERENCE.to(x.device).view(1, 1, 3, 3)
    response = F.conv2d(x.float(), kernel, stride=step).abs().flatten(1)
    kept = None
    if valid is not None:
        window_valid = _window_minimum(valid.bool(), step).flatten(1)
        enough = window_valid.sum(dim=1, keepdim=True) >= MIN_VALID_WINDOWS
        kept = window_valid | ~enough
    return (lower_median(response, kept) / (0.6745 * 6.0)).to(x.dtype)


def lower_median(values: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """Per row of ``values`` (N x K), the lower median of its ``kept`` entries (N x K bool; all
    where None), NaN for a row that keeps none: what ``nanmedian`` gives with the rest NaN.

    On a CPU, numpy's partition (a linear-time selection) per row: 6x faster than torch's
    nanmedian on a photo's 38,000 responses, whose 5 readings a photo took 4% of the pipeline's
    time (docs/BENCHMARKS.md, "Twenty-ninth session"). Elsewhere, the batched nanmedian.
    """
    if values.device.type != "cpu" or values.requires_grad:
        masked = values if kept is None else torch.where(kept, values, torch.nan)
        return masked.nanmedian(dim=1).values
    rows = values.detach().numpy()
    masks = None if kept is None else kept.numpy()
    medians = []
    for index, row in enumerate(rows):
        row = row[~np.isnan(row)] if masks is None else row[masks[index] & ~np.isnan(row)]
        middle = (row.size - 1) // 2
        medians.append(np.partition(row, middle)[middle] if row.size else np.nan)
    return torch.tensor(np.asarray(medians, dtype=rows.dtype))


MIN_VALID_WINDOWS = 64


def _window_minimum(valid: torch.Tensor, step: int) -> torch.Tensor:
    """Whether every pixel of each 3x3 window (every ``step``-th, as the filter's response) is
    valid: the AND of nine strided views, a quarter of the time of a min-pool on floats."""
    rows = (valid.shape[-2] - 3) // step + 1
    columns = (valid.shape[-1] - 3) // step + 1
    result = None
    for top in range(3):
        for left in range(3):
            view = valid[..., top : top + step * (rows - 1) + 1 : step, left : left + step * (columns - 1) + 1 : step]
            result = view if result is None else result & view
    return result
