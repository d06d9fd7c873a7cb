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

The sliding DCT and its inverse are separable convolutions (rows, then columns), so the whole
filter is a handful of convolutions and no Python loop.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from denoisecli.color import pad_edges


def check_wiener_settings(settings) -> None:
    """Raise ValueError unless ``settings`` (a sidecar's ``restore.wiener``) is None or
    ``{"block": B, "stride": S}`` with whole numbers B >= 2 and 1 <= S <= B, and optionally
    ``"from_noise": [LOW, HIGH]`` with 0 <= LOW <= HIGH (``pipeline.restore_lightness``)."""
    if settings is None:
        return
    try:
        block, stride = settings["block"], settings["stride"]
        low, high = (float(v) for v in settings.get("from_noise", (0.0, 0.0)))
    except (TypeError, KeyError, ValueError, AttributeError):
        expected = "{'block': B, 'stride': S, 'from_noise': [LOW, HIGH]}"
        raise ValueError(f"wiener must be {expected}, got {settings!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (block, stride)) or not (
        block >= 2 and 1 <= stride <= block
    ):
        raise ValueError(f"wiener needs whole numbers block >= 2 and 1 <= stride <= block, got {settings!r}")
    if not 0 <= low <= high:
        raise ValueError(f"wiener's from_noise needs 0 <= LOW <= HIGH, got {settings!r}")


def dct_matrix(block: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The orthonormal DCT-II matrix (row k: the k-th cosine over ``block`` samples)."""
    index = torch.arange(block, dtype=torch.float64)
    matrix = torch.cos(math.pi * (2 * index[None] + 1) * index[:, None] / (2 * block)) * math.sqrt(2 / block)
    matrix[0] /= math.sqrt(2)
    return matrix.to(dtype=dtype, device=device)


def _kernels(block: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The separable DCT as two convolution weights: along x (block x 1 x 1 x block), then,
    per x-frequency, along y (block^2 x 1 x block x 1, used with groups=block)."""
    matrix = dct_matrix(block, like.dtype, like.device)
    along_x = matrix.view(block, 1, 1, block)
    along_y = matrix.repeat(block, 1).view(block * block, 1, block, 1)
    return along_x, along_y


def sliding_dct(image: torch.Tensor, block: int, stride: int) -> torch.Tensor:
    """The 2-D DCT of every ``block``-sized window at every ``stride``-th position: N x 1 x H x W
    -> N x block^2 x H' x W'. Rows then columns, so it costs about block / stride^2 + 1 times what a
    block^2-channel convolution would per pixel, not block^2 / stride^2."""
    along_x, along_y = _kernels(block, image)
    rows = F.conv2d(image, along_x, stride=(1, stride))
    return F.conv2d(rows, along_y, stride=(stride, 1), groups=block)


def inverse_sliding_dct(coefficients: torch.Tensor, block: int, stride: int) -> torch.Tensor:
    """Every window back from its coefficients, overlapping windows summed (``sliding_dct``'s adjoint)."""
    along_x, along_y = _kernels(block, coefficients)
    rows = F.conv_transpose2d(coefficients, along_y, stride=(stride, 1), groups=block)
    return F.conv_transpose2d(rows, along_x, stride=(1, stride))


def dct_wiener(
    noisy: torch.Tensor,
    pilot: torch.Tensor,
    sigma: torch.Tensor,
    strength: float | torch.Tensor = 1.0,
    block: int = 8,
    stride: int = 2,
) -> torch.Tensor:
    """Wiener-filter ``noisy`` (N x 1 x H x W) in ``block``-sized DCT windows, guided by ``pilot``.

    ``sigma`` is the noise level of ``noisy`` per image (anything that reshapes to N x 1 x 1 x
    1, same units as the images); ``strength`` scales its square (0 keeps all of ``noisy``'s
    detail, on the pilot's window means). The
    image is reflect-padded by one block on every side, plus what makes the windows tile it,
    so every pixel is covered by the same number of windows.
    """
    if noisy.shape != pilot.shape or noisy.ndim != 4 or noisy.shape[1] != 1:
        shapes = f"{tuple(noisy.shape)} and {tuple(pilot.shape)}"
        raise ValueError(f"dct_wiener expects two N x 1 x H x W images, got {shapes}")
    check_wiener_settings({"block": block, "stride": stride})
    height, width = noisy.shape[-2:]
    bottom = block + (-(height + block) % stride)
    right = block + (-(width + block) % stride)
    pads = (block, right, block, bottom)
    coefficients = sliding_dct(pad_edges(noisy, pads), block, stride)
    pilot_coefficients = sliding_dct(pad_edges(pilot, pads), block, stride)
    # Each window's mean comes from the pilot. Noise clipped at black or white is not zero-mean
    # (an 8-bit photo's dark sky reads brighter than it is), the network has learned to correct
    # that and the noisy mean has not: taking it back cost up to 3 dB in L on dark photos. With
    # unclipped noise the noisy mean is barely noisier (sigma / block) and RGB PSNR does not drop.
    coefficients[:, :1] = pilot_coefficients[:, :1]
    gain = pilot_coefficients.square_()  # the pilot's power, for now
    noise_power = strength * sigma.reshape(-1, 1, 1, 1).to(noisy) ** 2
    gain.div_((gain + noise_power).clamp_min_(1e-20))  # in place: these are block^2 / stride^2 times the image
    gain[:, :1] = 1.0  # the pilot's mean as it is: L is centred on mid-grey, and a gain would pull it there
    weight = gain.square().sum(1, keepdim=True).clamp_min_(1e-6).reciprocal_()
    coefficients.mul_(gain).mul_(weight)
    # The padding makes the windows tile the padded image exactly, so both sums come back at its size.
    total = inverse_sliding_dct(coefficients, block, stride)
    coverage = F.conv_transpose2d(weight, noisy.new_ones(1, 1, block, block), stride=stride)
    return (total / coverage)[..., block : block + height, block : block + width]
