"""The two building blocks of every autoencoder variant.

Convolutions feeding batch norm have no bias (the norm's shift replaces it), and each
conv -> norm -> ReLU triple is its own ``nn.Sequential`` so ``fold_batch_norm`` can find it.
Attribute names here are part of the weight file format: renaming one breaks shipped weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_norm_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualBody(nn.Module):
    """``scale`` conv/BN/ReLU layers plus a shortcut through one convolution.

    The shortcut's 1x1 convolution carries the stride and the channel change, so the sum is
    always shape-compatible.
    """

    def __init__(self, in_channels: int, scale: int, out_channels: int, stride: int = 1):
        super().__init__()
        if scale < 1:
            raise ValueError(f"scale (layers per block) must be at least 1, got {scale}")
        layers = [conv_norm_relu(in_channels, out_channels, stride)]
        layers += [conv_norm_relu(out_channels, out_channels) for _ in range(scale - 1)]
        self.layers = nn.Sequential(*layers)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) + self.shortcut(x)


class EncoderBlock(ResidualBody):
    """Halves the resolution (``stride`` 2) while changing ``in_channels`` to ``out_channels``."""

    def __init__(self, in_channels: int, scale: int, out_channels: int, stride: int = 2):
        super().__init__(in_channels, scale, out_channels, stride)


class DecoderBlock(nn.Module):
    """Doubles the resolution: nearest-neighbour upsampling, then a residual conv body.

    Upsampling before convolving (rather than a transposed convolution) avoids checkerboard
    artefacts (Odena et al., 2016).
    """

    def __init__(self, in_channels: int, scale: int, out_channels: int):
        super().__init__()
        self.body = ResidualBody(in_channels, scale, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        upsampled = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:  # U-Net order: the encoder features of the new resolution join here
            upsampled = torch.cat([upsampled, skip], dim=1)
        return self.body(upsampled)


@torch.no_grad()
def fold_batch_norm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it, in place, for inference.

    y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta is itself a convolution with scaled
    weights and a bias, so each triple drops one whole pass over the activations.
    """
    for child in module.modules():
        if not isinstance(child, nn.Sequential):
            continue
        items = list(child)
        for index in range(len(items) - 1):
            conv, norm = items[index], items[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                child[index] = _fused(conv, norm)
                child[index + 1] = nn.Identity()
    return module


def _fused(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True).to(
        conv.weight
    )
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    fused.bias.copy_((bias - norm.running_mean) * scale + norm.bias)
    return fused
