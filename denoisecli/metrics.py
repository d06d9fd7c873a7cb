"""Per-image PSNR and SSIM on N x C x H x W tensors."""

from __future__ import annotations

import torch

from denoisecli.color import gaussian_blur


def _check_pair(prediction: torch.Tensor, target: torch.Tensor) -> None:
    if prediction.shape != target.shape or prediction.ndim != 4:
        raise ValueError(
            f"expects two N x C x H x W tensors of one shape, got {tuple(prediction.shape)} and {tuple(target.shape)}"
        )


def psnr(prediction: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (shape N), over all channels and pixels.

    ``peak`` is the largest possible value: 1 for images in [0, 1], 255 for 8-bit values.
    Identical images give +inf.
    """
    _check_pair(prediction, target)
    mse = (prediction.double() - target.double()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(peak**2 / mse)).float()


def ssim(prediction: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (shape N): Gaussian window sigma 1.5, per channel, averaged.

    The constants are Wang et al.'s (K1 = 0.01, K2 = 0.03) relative to ``peak``.
    """
    _check_pair(prediction, target)
    x, y = prediction.double(), target.double()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mean_x, mean_y = gaussian_blur(x, 1.5), gaussian_blur(y, 1.5)
    var_x = gaussian_blur(x * x, 1.5) - mean_x**2
    var_y = gaussian_blur(y * y, 1.5) - mean_y**2
    covariance = gaussian_blur(x * y, 1.5) - mean_x * mean_y
    numerator = (2 * mean_x * mean_y + c1) * (2 * covariance + c2)
    denominator = (mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2)
    return (numerator / denominator).flatten(1).mean(dim=1).float()
