"""Empirical Wiener filtering in a sliding-window DCT, with the network's output as the pilot.

The second step of BM3D (Dabov et al., 2007) without its block matching: every ``block`` x
``block`` window of the noisy image, at every ``stride``-th position, goes to the DCT; each
coefficient is kept in the proportion the pilot's coefficient P says is signal,

    gain = P^2 / (P^2 + strength * sigma^2),

and the windows go back and are averaged where they overlap, each weighted by 1 / sum(gain^2)
(the inverse of its remaining noise variance, as BM3D weights its groups). The pilot decides
which frequencies carry signal in each window; the noisy image supplies their values. A
network that smooths fine texture away (as the shipped ``skip`` does) still shows where that
texture is, so its weak coefficients come back from the noisy input at the right strength,
frequency by frequency, where the spatial restore step (``detail.restore_detail``) can only
give back all of a window's residual or none of it.

Windows at every ``stride``-th position are ``(block / stride)^2`` shifted tilings of the image
by non-overlapping blocks, so each tiling is a reshape, its 2-D DCT one matrix product per
tiling (a flattened window times the Kronecker product of the 1-D DCT with itself), and the
overlap-add a strided sum: a loop over the tilings (4 at stride 4), none over windows. On the
2-core CPU that is 1.4x as fast as the separable sliding convolutions it replaced (``python
benchmarks/wiener_speed.py`` here and at the commit before it; docs/BENCHMARKS.md). The
Kronecker form does four times the multiplications of a separable one but as one large matrix
product; the separable form as batched 8 x 8 products measured slower.

On a GPU the same windows take another route (``_by_grids``): per grid of windows at the
stride, one cut (``unfold``) and one matrix product for their DCT, one more and a ``fold`` for
the overlap-add: a quarter of the tilings' operations, forward and backward together. A
training step through the restore step (``train --restore-loss``) runs thousands of small
operations, and a GPU spends its time launching them; on a CPU the same route is slower than
the tilings (docs/BENCHMARKS.md, "The restore step in training").
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from denoisecli.color import pad_edges

ROUTE: str | None = None  # "tilings" or "grids" for every device (tests, benchmarks); None: by device


def check_wiener_settings(settings) -> None:
    """Raise ValueError unless ``settings`` (a sidecar's ``restore.wiener``) is None or
    ``{"block": B, "stride": S}`` with whole numbers B >= 2 and S dividing B, and optionally
    ``"from_noise": [LOW, HIGH]`` and ``"repeat": [LOW, HIGH]``, each with 0 <= LOW <= HIGH
    (``pipeline.restore_lightness``), ``"repeat_floor": true`` and ``"quincunx": true``
    (``dct_wiener``; S even)."""
    if settings is None:
        return
    try:
        block, stride = settings["block"], settings["stride"]
        ranges = {key: [float(v) for v in settings.get(key, (0.0, 0.0))] for key in ("from_noise", "repeat")}
        quincunx = settings.get("quincunx", False)
        floor = settings.get("repeat_floor", False)
    except (TypeError, KeyError, ValueError, AttributeError):
        expected = "{'block': B, 'stride': S, 'from_noise': [LOW, HIGH], 'repeat': [LOW, HIGH]}"
        raise ValueError(f"wiener must be {expected}, got {settings!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (block, stride)) or not (
        block >= 2 and 1 <= stride <= block and block % stride == 0
    ):
        raise ValueError(f"wiener needs whole numbers block >= 2 and a stride that divides it, got {settings!r}")
    for key, bounds in ranges.items():
        if len(bounds) != 2 or not 0 <= bounds[0] <= bounds[1]:
            raise ValueError(f"wiener's {key} needs [LOW, HIGH] with 0 <= LOW <= HIGH, got {settings!r}")
    if not isinstance(floor, bool):
        raise ValueError(f"wiener's repeat_floor must be true or false, got {settings!r}")
    if not isinstance(quincunx, bool) or (quincunx and stride % 2):
        raise ValueError(f"wiener's quincunx must be true or false, and true needs an even stride, got {settings!r}")


def dct_matrix(block: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The orthonormal DCT-II matrix (row k: the k-th cosine over ``block`` samples)."""
    index = torch.arange(block, dtype=torch.float64)
    matrix = torch.cos(math.pi * (2 * index[None] + 1) * index[:, None] / (2 * block)) * math.sqrt(2 / block)
    matrix[0] /= math.sqrt(2)
    return matrix.to(dtype=dtype, device=device)


def window_dct_matrix(block: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The 2-D DCT of a flattened (row-major) ``block`` x ``block`` window as one matrix:
    ``(D @ window @ D.T).flatten() == window_dct_matrix(block) @ window.flatten()``."""
    matrix = dct_matrix(block, dtype, device)
    return torch.kron(matrix, matrix)


def _to_windows(image: torch.Tensor, block: int) -> torch.Tensor:
    """N x C x (R*block) x (K*block) -> N x C x (R*K) x block^2: the non-overlapping windows, flattened."""
    count, channels, height, width = image.shape
    rows, columns = height // block, width // block
    windows = image.reshape(count, channels, rows, block, columns, block).permute(0, 1, 2, 4, 3, 5)
    return windows.reshape(count, channels, rows * columns, block * block)


def dct_wiener(
    noisy: torch.Tensor,
    pilot: torch.Tensor,
    sigma: torch.Tensor,
    strength: float | torch.Tensor = 1.0,
    block: int = 8,
    stride: int = 4,
    quincunx: bool = False,
    repeat: torch.Tensor | None = None,
    floor: bool = False,
) -> torch.Tensor:
    """Wiener-filter ``noisy`` (N x 1 x H x W) in ``block``-sized DCT windows, guided by ``pilot``.

    ``sigma`` is the noise level of ``noisy`` per image (anything that reshapes to N x 1 x 1 x
    1, same units as the images); ``strength`` scales its square (0 keeps all of ``noisy``'s
    detail, on the pilot's window means); ``stride`` divides ``block``. ``quincunx`` adds the
    windows half a stride down and right of the stride grid's (the centres of its squares):
    twice the tilings, most of what halving the stride gains for half its cost (docs/RESULTS.md,
    "The eighth rule"). The image is reflect-padded by one block on every side, plus what makes
    the windows tile it, so every pixel is covered by the same number of windows.

    ``repeat`` (per image, anything that reshapes to N, 0 to 1) takes that share of a second
    pass, filtered as the first with the first's output as the pilot (what calling this again
    on that output gives; the noisy windows' transforms are kept from the first pass, not
    recomputed). With ``floor`` the second pass's pilot power is at least the first pilot's,
    coefficient by coefficient, so the second pass never shrinks one more than the first did,
    and its windows keep the first pilot's means: on a clean textured photo whose texture reads
    as noise, the first output has lost texture, and a second pass guided by it alone lost
    more (2 dB on one validation photo; docs/RESULTS.md, "The Wiener filter twice").
    """
    if noisy.shape != pilot.shape or noisy.ndim != 4 or noisy.shape[1] != 1:
        shapes = f"{tuple(noisy.shape)} and {tuple(pilot.shape)}"
        raise ValueError(f"dct_wiener expects two N x 1 x H x W images, got {shapes}")
    check_wiener_settings({"block": block, "stride": stride, "quincunx": quincunx})
    height, width = noisy.shape[-2:]
    padding = (block, block + (-(width + block) % stride), block, block + (-(height + block) % stride))
    both = pad_edges(torch.cat([noisy, pilot], dim=1), padding)  # N x 2 x H' x W'
    noise_power = strength * sigma.reshape(-1, 1, 1, 1).to(noisy) ** 2
    if repeat is not None and not bool((torch.as_tensor(repeat) > 0).any()):
        repeat = None
    chosen = ROUTE or ("tilings" if noisy.device.type == "cpu" else "grids")
    route = _by_grids if chosen == "grids" else _by_tilings
    crop = (..., slice(block, block + height), slice(block, block + width))
    passes = _Passes(padding, crop, noise_power, block, stride, quincunx, repeat is not None, floor)
    first, second = route(both, passes)
    if second is None:
        return first[crop]
    return torch.lerp(first[crop], second[crop], torch.as_tensor(repeat).to(first).reshape(-1, 1, 1, 1))


class _Passes(NamedTuple):
    """What both routes take besides the padded images: the padding and the crop that takes it
    off, the noise power per image (N x 1 x 1 x 1), the windows, and the second pass."""

    padding: tuple[int, int, int, int]
    crop: tuple
    noise_power: torch.Tensor
    block: int
    stride: int
    quincunx: bool
    again: bool
    floor: bool


def _by_tilings(both: torch.Tensor, passes: _Passes) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``dct_wiener``'s first pass and (with ``passes.again``) second pass over the padded noisy
    image and pilot (``both``, N x 2 x H' x W'), before the crop takes the padding off, one
    tiling of non-overlapping windows at a time: the fastest route on a CPU."""
    padding, crop, noise_power, block, stride, quincunx, again, floor = passes
    count, _, padded_height, padded_width = both.shape
    transform = window_dct_matrix(block, both.dtype, both.device)
    noise_power = noise_power.reshape(-1, 1, 1).expand(count, 1, 1)
    offsets = [(top, left) for top in range(0, block, stride) for left in range(0, block, stride)]
    if quincunx:
        offsets += [(top + stride // 2, left + stride // 2) for top, left in offsets]
    tilings = []  # each a tiling of the image by non-overlapping windows: (area, rows, columns)
    for top, left in offsets:
        rows, columns = (padded_height - top) // block, (padded_width - left) // block
        tilings.append(((..., slice(top, top + rows * block), slice(left, left + columns * block)), rows, columns))
    # Autograd (``train --restore-loss``) needs the windows' values out of place (their gradient
    # reads them as they were); inference keeps them in place, which saves a copy of every window.
    inplace = not (torch.is_grad_enabled() and both.requires_grad)
    total = both.new_zeros(count, 1, padded_height, padded_width)
    coverage = torch.zeros_like(total)
    kept = []  # per tiling, for the second pass: the noisy windows' coefficients and the pilot's power
    for area, rows, columns in tilings:
        coefficients = _to_windows(both[area], block) @ transform.T  # N x 2 x windows x block^2
        values, power = coefficients[:, 0], coefficients[:, 1].square()
        # Each window's mean comes from the pilot (``_with_pilot_mean`` says why).
        values = _with_mean(values, coefficients[:, 1, :, :1], inplace)
        if again:
            kept.append((values.clone() if inplace else values, power))
        _add_filtered(total, coverage, (area, rows, columns), values, power, noise_power, transform, inplace)
    first = total / coverage
    if not again:
        return first, None
    padded_first = pad_edges(first[crop], padding)
    # Reused in place; under autograd ``first`` was computed from them, so new ones there.
    total, coverage = (
        (total.zero_(), coverage.zero_()) if inplace else (torch.zeros_like(total), torch.zeros_like(total))
    )
    for (area, rows, columns), (values, first_power) in zip(tilings, kept, strict=True):
        own = (_to_windows(padded_first[area], block) @ transform.T)[:, 0]
        if floor:  # the first pilot's means, and at least its power
            power = torch.maximum(own.square_(), first_power)
        else:  # the mean from this pass's pilot, as in the first
            values = _with_mean(values, own[..., :1], inplace)
            power = own.square_()
        _add_filtered(total, coverage, (area, rows, columns), values, power, noise_power, transform, inplace)
    return first, total / coverage


def _with_mean(values: torch.Tensor, mean: torch.Tensor, inplace: bool) -> torch.Tensor:
    """Window coefficients (N x windows x block^2) with their first, the mean, set to ``mean``."""
    if inplace:
        values[..., :1] = mean
        return values
    return torch.cat([mean, values[..., 1:]], dim=-1)


def _add_filtered(total, coverage, tiling, values, power, noise_power, transform, inplace: bool = True) -> None:
    """One tiling's windows (``values``: N x windows x block^2 coefficients, the mean already the
    pilot's; ``power``: the pilot's squared coefficients) Wiener-filtered, back in pixels and
    added into ``total``, weighted by 1 / sum(gain^2), the weights into ``coverage``. With
    ``inplace``, ``values`` is spent."""
    area, rows, columns = tiling
    block = int(transform.shape[0] ** 0.5)
    gain, weight = _gain_and_weight(power, noise_power, -1)
    # Autograd needs ``values`` as it was for the gradient of ``gain``: out of place there.
    weighted = values.mul_(gain).mul_(weight) if inplace else values * gain * weight
    windows = weighted @ transform  # back to pixels, weighted
    # Added straight into views of ``total`` and ``coverage`` split into the tiling's windows:
    # no copy of the windows back into an image first (7% of the filter's time).
    count = windows.shape[0]
    _window_grid(total[area], rows, columns, block).add_(
        windows.view(count, 1, rows, columns, block, block).transpose(-3, -2)
    )
    _window_grid(coverage[area], rows, columns, block).add_(weight.view(count, 1, rows, 1, columns, 1))


def _gain_and_weight(power: torch.Tensor, noise_power: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each coefficient's Wiener gain from the pilot's ``power`` (coefficients along ``dim``,
    the mean first), and each window's weight, 1 / sum(gain^2)."""
    gain = power / (power + noise_power).clamp_min(1e-20)
    gain.select(dim, 0).fill_(1.0)  # the pilot's mean as it is: L is centred on mid-grey, a gain would pull it there
    return gain, gain.square().sum(dim, keepdim=True).clamp_min_(1e-6).reciprocal_()


def _window_grid(area: torch.Tensor, rows: int, columns: int, block: int) -> torch.Tensor:
    """A view of N x 1 x (R*block) x (K*block) as N x 1 x R x block x K x block."""
    return area.unflatten(-1, (columns, block)).unflatten(-3, (rows, block))


def _by_grids(both: torch.Tensor, passes: _Passes) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What ``_by_tilings`` returns, by grids: every window at a multiple of the stride, and
    with ``quincunx`` every one half a stride down and right of those. Per grid, the windows'
    DCT is one cut and one matrix product, and their sum back into the image one more and a
    ``fold``, where the tilings take a copy and a matrix product per tiling."""
    padding, crop, noise_power, block, stride, quincunx, again, floor = passes
    transform = window_dct_matrix(block, both.dtype, both.device)
    grids = [_Grid(0, stride, transform)] + ([_Grid(stride // 2, stride, transform)] if quincunx else [])
    firsts = [_with_pilot_mean(grid.coefficients(both)) for grid in grids]
    first = _filtered(grids, firsts, noise_power, both.shape[-2:])
    if not again:
        return first, None
    padded_first = pad_edges(first[crop], padding)
    seconds = []
    for grid, (values, first_power) in zip(grids, firsts, strict=True):
        own = grid.coefficients(padded_first)[:, 0]
        if floor:  # the first pilot's means, and at least its power
            seconds.append((values, torch.maximum(own.square(), first_power)))
        else:  # the mean from this pass's pilot, as in the first
            seconds.append((torch.cat([own[:, :1], values[:, 1:]], dim=1), own.square()))
    return first, _filtered(grids, seconds, noise_power, both.shape[-2:])


def _with_pilot_mean(coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows' coefficients (N x 2 x block^2 x rows x columns: the noisy image's, the pilot's)
    -> the noisy ones with the pilot's mean, and the pilot's power.

    Each window's mean comes from the pilot. Noise clipped at black or white is not zero-mean
    (an 8-bit photo's dark sky reads brighter than it is), the network has learned to correct
    that and the noisy mean has not: taking it back cost up to 3 dB in L on dark photos. With
    unclipped noise the noisy mean is barely noisier (sigma / block) and RGB PSNR does not drop.
    """
    values = torch.cat([coefficients[:, 1, :1], coefficients[:, 0, 1:]], dim=1)
    return values, coefficients[:, 1].square()


class _Grid(NamedTuple):
    """The windows whose top-left corners lie at ``offset`` plus multiples of ``stride``, and
    the 2-D DCT of a flattened window (``window_dct_matrix``)."""

    offset: int
    stride: int
    transform: torch.Tensor

    def coefficients(self, image: torch.Tensor) -> torch.Tensor:
        """N x C x H' x W' -> N x C x block^2 x rows x columns: every window's DCT.

        Cut out by ``unfold`` and transformed by a matrix product: a convolution would say the
        same in one operation, but cuDNN runs float32 convolutions in TF32 by default (a
        thousandth off), where a matrix product stays in float32."""
        inside = image[..., self.offset :, self.offset :]
        count, channels, height, width = inside.shape
        block = math.isqrt(self.transform.shape[0])
        windows = F.unfold(inside.reshape(count * channels, 1, height, width), block, stride=self.stride)
        rows, columns = (height - block) // self.stride + 1, (width - block) // self.stride + 1
        return (self.transform @ windows).view(count, channels, block * block, rows, columns)

    def summed(self, windows: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """N x K x rows x columns (K = block^2 coefficients per window, or K = 1: one value
        over the whole window) -> N x 1 x ``size``: each window in pixels, added at its place,
        overlaps summed (``fold``, the inverse of the cut)."""
        block = math.isqrt(self.transform.shape[0])
        columns = windows.flatten(2)
        columns = self.transform.T @ columns if windows.shape[1] > 1 else columns.expand(-1, block * block, -1)
        height, width = (side - self.offset for side in size)
        return F.pad(F.fold(columns, (height, width), block, stride=self.stride), (self.offset, 0, self.offset, 0))


def _filtered(grids: list[_Grid], windows, noise_power: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Each grid's windows (``values``: N x block^2 x rows x columns coefficients, the mean
    already the pilot's; ``power``: the pilot's squared coefficients) Wiener-filtered, back in
    pixels and averaged where they overlap, each weighted by 1 / sum(gain^2): N x 1 x ``size``."""
    total = coverage = 0
    for grid, (values, power) in zip(grids, windows, strict=True):
        gain, weight = _gain_and_weight(power, noise_power, 1)
        total = total + grid.summed(values * gain * weight, size)
        coverage = coverage + grid.summed(weight, size)
    return total / coverage
