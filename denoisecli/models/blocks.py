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


# A 3x3 convolution of a 2x nearest-neighbour upsampling, at output row 2i + p, reads coarse rows
# (i - 1, i, i) for p = 0 and (i, i, i + 1) for p = 1: kernel rows that land on the same coarse
# row add up, so each of the four output phases (p, q) is a 2x2 convolution of the coarse input.
PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _phase_kernels(weight: torch.Tensor) -> torch.Tensor:
    """O x C x 3 x 3 on the upsampled input -> 4O x C x 2 x 2 on the coarse one, phase by phase
    (``PHASES``' order), for a coarse input padded by one pixel on every side."""

    def fold(kernel: torch.Tensor, dim: int, phase: int) -> torch.Tensor:
        first, middle, last = kernel.unbind(dim)
        return torch.stack([first, middle + last] if phase == 0 else [first + middle, last], dim)

    return torch.cat([fold(fold(weight, 2, row), 3, column) for row, column in PHASES])


class CoarseDecoderBlock(nn.Module):
    """A ``DecoderBlock`` for inference, computing the same function with its upsampling moved
    after the convolutions that read it: the first 3x3 convolution's upsampled inputs as four 2x2
    convolutions at the coarse resolution (``_phase_kernels``, 4/9 of the multiplications) and
    the 1x1 shortcut's before upsampling (it commutes). The upsampled image is never built. In
    float32 on CPU that is 15-30% of the network's time (docs/BENCHMARKS.md, eighteenth session).

    ``upsampled`` is how many of the block's input channels come from upsampling (the rest are
    the skip, stacked after them).
    """

    def __init__(self, block: DecoderBlock, upsampled: int):
        super().__init__()
        first, shortcut = block.body.layers[0][0], block.body.shortcut
        if first.kernel_size != (3, 3) or first.stride != (1, 1) or first.padding != (1, 1):
            raise ValueError(
                "CoarseDecoderBlock expects the decoder's first convolution to be 3x3, stride 1, padding 1"
            )
        weight, bias = first.weight.detach(), first.bias
        bias = torch.zeros(first.out_channels).to(weight) if bias is None else bias.detach()
        self.register_buffer("phase_weight", _phase_kernels(weight[:, :upsampled]))
        self.register_buffer("phase_bias", bias.repeat(len(PHASES)))
        self.register_buffer("skip_weight", weight[:, upsampled:].contiguous())
        self.register_buffer("shortcut_weight", shortcut.weight.detach()[:, :upsampled].contiguous())
        self.register_buffer("shortcut_skip_weight", shortcut.weight.detach()[:, upsampled:].contiguous())
        self.register_buffer("shortcut_bias", shortcut.bias.detach())
        self.first_rest = block.body.layers[0][1:]  # the norm (or the Identity it was folded into) and ReLU
        self.layers = block.body.layers[1:]

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        count, _, height, width = x.shape
        channels = self.phase_bias.numel() // len(PHASES)
        phases = F.conv2d(F.pad(x, (1, 1, 1, 1)), self.phase_weight, self.phase_bias)  # 4O x (H+1) x (W+1)
        if skip is None:  # the four phases fill the output between them
            memory = (
                torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
            )
            size = (count, channels, 2 * height, 2 * width)
            out = torch.empty(size, dtype=phases.dtype, device=x.device, memory_format=memory)
            place = torch.Tensor.copy_
        else:
            out = F.conv2d(skip, self.skip_weight, padding=1)
            place = torch.Tensor.add_
        grid = _phase_grid(out, height, width)
        for index, (row, column) in enumerate(PHASES):
            phase = phases[:, index * channels : (index + 1) * channels, row : row + height, column : column + width]
            place(grid[:, :, :, row, :, column], phase)
        result = self.layers(self.first_rest(out))
        shortcut = F.conv2d(x, self.shortcut_weight, self.shortcut_bias)
        _phase_grid(result, height, width).add_(shortcut[:, :, :, None, :, None])
        if skip is not None:
            result = result + F.conv2d(skip, self.shortcut_skip_weight)
        return result


def _phase_grid(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A view of N x C x 2H x 2W as N x C x H x 2 x W x 2: [..., p, :, q] is output phase (p, q)."""
    return image.unflatten(-1, (width, 2)).unflatten(-3, (height, 2))
