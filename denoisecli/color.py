"""sRGB <-> CIELAB in torch, the network's input scaling, and chroma smoothing.

Tensor conventions for the whole package (stated once, here):

- I/O side: numpy HxWxC float32, RGB in [0, 1] (see ``imageio``).
- Torch side: NCHW float32. RGB in [0, 1]; LAB with L in [0, 100] and a, b roughly in [-128, 127].
- Noise is added in RGB, as a camera would, before any conversion (see ``noise``).
- The network sees L scaled to [-1, 1] (``scale_lightness``) and returns it on the same scale.
- PSNR is measured on RGB with a peak of 1 (see ``metrics``).

All functions are differentiable, batched and run on whatever device their input lives on (the
two window filters hand CPU tensors that need no gradient to OpenCV: same results, faster).
Out-of-range RGB (unclipped Gaussian noise) converts without NaNs: the piecewise curves use
their linear branch below zero.
"""

from __future__ import annotations

import math

import cv2
import torch
import torch.nn.functional as F

# sRGB primaries -> CIE XYZ, D65 white, 2 degree observer (the same constants as scikit-image).
_XYZ_FROM_RGB = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_RGB_FROM_XYZ = torch.linalg.inv(_XYZ_FROM_RGB)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
_EPSILON = 0.008856  # (6/29)^3
_KAPPA_SLOPE = 7.787  # (29/6)^2 / 3


def _check_nchw(image: torch.Tensor, channels: int, name: str) -> None:
    if image.ndim != 4 or image.shape[1] != channels:
        raise ValueError(f"{name} expects N x {channels} x H x W, got shape {tuple(image.shape)}")


def _apply_matrix(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    # A matrix product over the flattened planes: the same values as the einsum it replaced,
    # 2.5x faster on a CPU, in 9 operations where it took 15.
    return (matrix.to(image) @ image.flatten(2)).unflatten(2, image.shape[-2:])


def _power(base: torch.Tensor, exponent: float) -> torch.Tensor:
    """``base ** exponent`` for a positive ``base``, as exp(exponent * log(base)): the same values
    to a few float32 ulps, and 3.5x faster than ``torch.pow`` with a fractional exponent on a
    CPU, whose pow is not vectorised (the LAB conversions spent half their time in it;
    docs/BENCHMARKS.md, "Twenty-ninth session")."""
    return torch.exp(torch.log(base) * exponent)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve. Any shape, values nominally in [0, 1]."""
    power = _power((rgb.clamp_min(0.04045) + 0.055) / 1.055, 2.4)
    return torch.where(rgb > 0.04045, power, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB transfer curve. Any shape, values nominally in [0, 1]."""
    power = 1.055 * _power(linear.clamp_min(0.0031308), 1 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, power, linear * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (N x 3 x H x W, [0, 1]) -> CIELAB (N x 3 x H x W; L in [0, 100])."""
    _check_nchw(rgb, 3, "rgb_to_lab")
    xyz = _apply_matrix(_XYZ_FROM_RGB, srgb_to_linear(rgb))
    xyz = xyz / _D65_WHITE.to(xyz).view(1, 3, 1, 1)
    cube_root = _power(xyz.clamp_min(_EPSILON), 1 / 3)
    f = torch.where(xyz > _EPSILON, cube_root, _KAPPA_SLOPE * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    lab = torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)
    return lab


def lab_to_rgb(lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """CIELAB (N x 3 x H x W) -> sRGB (N x 3 x H x W), clipped to [0, 1] unless ``clip=False``."""
    _check_nchw(lab, 3, "lab_to_rgb")
    lightness, a, b = lab.unbind(1)
    fy = (lightness + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
    cube = f.clamp_min(0.2068966).pow(3)
    xyz = torch.where(f > 0.2068966, cube, (f - 16 / 116) / _KAPPA_SLOPE)
    xyz = xyz * _D65_WHITE.to(xyz).view(1, 3, 1, 1)
    rgb = linear_to_srgb(_apply_matrix(_RGB_FROM_XYZ, xyz))
    return rgb.clamp(0, 1) if clip else rgb


def gray_to_lightness(gray: torch.Tensor) -> torch.Tensor:
    """Gray sRGB (N x 1 x H x W, [0, 1]) -> L (N x 1 x H x W, [0, 100])."""
    _check_nchw(gray, 1, "gray_to_lightness")
    return rgb_to_lab(gray.expand(-1, 3, -1, -1))[:, :1]


def lightness_to_gray(lightness: torch.Tensor) -> torch.Tensor:
    """L (N x 1 x H x W, [0, 100]) -> gray sRGB (N x 1 x H x W, [0, 1])."""
    _check_nchw(lightness, 1, "lightness_to_gray")
    zeros = torch.zeros_like(lightness)
    return lab_to_rgb(torch.cat([lightness, zeros, zeros], dim=1))[:, :1]


def scale_lightness(lightness: torch.Tensor) -> torch.Tensor:
    """L in [0, 100] -> the network's [-1, 1]."""
    return lightness / 50.0 - 1.0


def scale_chroma(chroma: torch.Tensor) -> torch.Tensor:
    """A/B -> the network's scale: L's gain (1/50), so a step in A reads like the same step in L."""
    return chroma / 50.0


def unscale_lightness(scaled: torch.Tensor) -> torch.Tensor:
    """The network's [-1, 1] -> L in [0, 100]."""
    return (scaled + 1.0) * 50.0


# ---------------------------------------------------------------------------------------------
# Chroma smoothing. Noise added in RGB leaves A and B far noisier than L relative to their
# content, and the eye is far less sensitive to chroma detail, so A/B are smoothed hard instead of
# learned. Impulses (salt-and-pepper, knockout) would smear their false colour into a plain blur,
# so every filter first down-weights pixels whose noisy L disagrees with the denoised L.

CHROMA_FILTERS = ("gaussian", "guided")


def gaussian_kernel1d(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every channel of N x C x H x W, reflect-padded."""
    kernel = gaussian_kernel1d(sigma, image.device, image.dtype)
    return _separable(image, kernel, kernel)


def pad_edges(image: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """``F.pad`` (left, right, top, bottom) by reflection, or by replication where the image is too
    small to reflect (reflection needs every pad shorter than the side)."""
    mode = "reflect" if min(image.shape[-2:]) > max(pads) else "replicate"
    return F.pad(image, pads, mode=mode)


def _separable(image: torch.Tensor, kernel_y: torch.Tensor, kernel_x: torch.Tensor) -> torch.Tensor:
    channels = image.shape[1]
    pad_y, pad_x = kernel_y.numel() // 2, kernel_x.numel() // 2
    if _opencv_can_filter(image, max(pad_y, pad_x)):
        # A depthwise 19-tap convolution is slow in oneDNN (5-12 ms on a CBSD68 photo's three
        # planes); OpenCV's separable filter takes about 1 ms, within 3e-7 of it.
        kernels = kernel_x.cpu().numpy(), kernel_y.cpu().numpy()
        return _opencv_planes(image, lambda plane, out: cv2.sepFilter2D(plane, -1, *kernels, dst=out, **_REFLECT))
    padded = pad_edges(image, (pad_x, pad_x, pad_y, pad_y))
    weight_y = kernel_y.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    weight_x = kernel_x.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    return F.conv2d(F.conv2d(padded, weight_y, groups=channels), weight_x, groups=channels)


_REFLECT = {"borderType": cv2.BORDER_REFLECT_101}  # torch's "reflect": the edge pixel is not repeated


def _opencv_can_filter(image: torch.Tensor, pad: int) -> bool:
    """Whether OpenCV gives what the torch path would: a CPU float tensor needing no gradient,
    every side longer than the padding (``pad_edges`` reflects there, as OpenCV does)."""
    return (
        image.device.type == "cpu"
        and image.dtype in (torch.float32, torch.float64)
        and not (image.requires_grad and torch.is_grad_enabled())
        and min(image.shape[-2:]) > pad
    )


def _opencv_planes(image: torch.Tensor, apply) -> torch.Tensor:
    """``apply(plane, out)`` on each H x W plane of N x C x H x W, into a new tensor. (Spreading
    the planes over two threads was slower in the whole pipeline: 0.500 against 0.483 s/MP.)"""
    planes = image.detach().contiguous().reshape(-1, *image.shape[-2:])
    result = torch.empty_like(planes)
    for plane, out in zip(planes.numpy(), result.numpy(), strict=True):
        apply(plane, out)
    return result.view(image.shape)


def box_filter(image: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window of every channel, reflect-padded.

    On CPU, OpenCV's box filter (float64 sums); elsewhere, or for gradients, running sums in
    torch (a window's sum is the difference of two prefix sums), so the cost does not grow
    with the radius, 3x faster than the separable depthwise convolution they replaced. Each
    channel's mean over the image is taken out first: the guided filter subtracts means of
    squares of L (values near 10^4), and prefix sums of uncentred values lose the variance of
    flat regions in float32. Centred, float32 sums stay within 0.002 of float64's on a 768 px
    tile of L squared (the largest values the pipeline sums) at half the time of float64.
    """
    size = 2 * radius + 1
    if _opencv_can_filter(image, radius + 1):
        # OpenCV's box filter sums in float64: half the time of the sums below and closer to exact.
        window = (size, size)
        return _opencv_planes(image, lambda plane, out: cv2.boxFilter(plane, -1, window, dst=out, **_REFLECT))
    offset = image.mean(dim=(-2, -1), keepdim=True)
    padded = pad_edges(image - offset, (radius + 1, radius, radius + 1, radius))
    sums = padded.cumsum(-1)
    sums = (sums[..., size:] - sums[..., :-size]).cumsum(-2)
    sums = sums[..., size:, :] - sums[..., :-size, :]
    return sums / size**2 + offset


def box_filters(images: list[torch.Tensor], radius: int) -> list[torch.Tensor]:
    """``box_filter`` of each of ``images`` (N x C_i x H x W): one call each where OpenCV runs
    them (no concatenated copy to make: a guided filter's 0.9 ms of 5.7), else one call on
    all of them concatenated (one padding and one prefix-sum pass)."""
    if all(_opencv_can_filter(image, radius + 1) for image in images):
        return [box_filter(image, radius) for image in images]
    return list(box_filter(torch.cat(images, dim=1), radius).split([image.shape[1] for image in images], dim=1))


def outlier_weights(noisy_lightness: torch.Tensor, clean_lightness: torch.Tensor, tolerance: float = 12.0):
    """Confidence in [0, 1] per pixel: low where the noisy L is far from the denoised L.

    Impulse noise moves L by tens of units; Gaussian noise at sigma 50 moves it by about 13, so a
    Gaussian fall-off with ``tolerance`` L units keeps ordinary noise and drops impulses.
    """
    difference = (noisy_lightness - clean_lightness) / tolerance
    return torch.exp(-0.5 * difference**2)


def fill_outliers(chroma: torch.Tensor, weights: torch.Tensor, sigma: float) -> torch.Tensor:
    """Replace untrusted pixels (weight near 0) by a weighted Gaussian mean of trusted neighbours.

    A normalised convolution: G*(w c) / G*(w). Trusted pixels keep their own value.
    """
    # One blur over both (weights first): one padding and one convolution call instead of two.
    blurred = gaussian_blur(torch.cat([weights, chroma * weights], dim=1), sigma)
    normaliser = blurred[:, :1].clamp_min(1e-4)
    neighbours = blurred[:, 1:] / normaliser
    return weights * chroma + (1 - weights) * neighbours


def smooth_chroma(
    chroma: torch.Tensor,
    guide_lightness: torch.Tensor,
    weights: torch.Tensor,
    method: str = "guided",
    sigma: float = 3.0,
    radius: int = 3,
    epsilon: float = 100.0,
    fill_sigma: float = 3.0,
) -> torch.Tensor:
    """Smooth A/B (N x 2 x H x W) guided by the denoised L (N x 1 x H x W, [0, 100]).

    Impulse-corrupted pixels (low ``weights``) are first filled from trusted neighbours
    (``fill_outliers``). ``gaussian`` then blurs with ``sigma``; ``guided`` applies He et al.'s
    guided filter with window radius ``radius`` and regulariser ``epsilon`` (L units squared), so
    colour edges follow the denoised L edges. ``benchmarks/chroma.py`` measures the choice.
    """
    return filter_chroma(fill_outliers(chroma, weights, fill_sigma), guide_lightness, method, sigma, radius, epsilon)


def filter_chroma(
    chroma: torch.Tensor, guide_lightness: torch.Tensor, method: str, sigma: float, radius: int, epsilon: float
) -> torch.Tensor:
    """The smoothing step of ``smooth_chroma`` alone, on chroma whose impulses are already filled."""
    if method not in CHROMA_FILTERS:
        raise ValueError(f"unknown chroma filter {method!r}; choose from {CHROMA_FILTERS}")
    if method == "gaussian":
        return gaussian_blur(chroma, sigma)
    return guided_filter(guide_lightness, chroma, radius, epsilon)


def guided_filter_self_weight(guide: torch.Tensor, radius: int, epsilon: float) -> torch.Tensor:
    """How much of each pixel's own value the guided filter's output keeps (N x 1 x H x W): the
    diagonal of its linear map from source to output, which depends on the guide alone.

    Each window k around pixel i adds (1 + (I_i - mu_k)^2 / (var_k + epsilon)) / n^2 (n pixels a
    window), from He et al.'s a_k and b_k; summed with box filters of 1 / (var + epsilon) and
    mu / (var + epsilon) and mu^2 / (var + epsilon). The guide is centred first, so the three
    sums do not cancel in float32 (the weight does not depend on the guide's offset).
    """
    size = (2 * radius + 1) ** 2
    guide = guide - guide.mean(dim=(-2, -1), keepdim=True)
    mean, mean_square = box_filters([guide, guide * guide], radius)
    variance = mean_square - mean.square()
    inverse = 1 / (variance.clamp_min(0) + epsilon)
    sums = box_filters([inverse, mean * inverse, mean.square() * inverse], radius)
    spread = guide.square() * sums[0] - 2 * guide * sums[1] + sums[2]
    return (1 + spread.clamp_min(0)) / size


# The risk of each setting is read off bands of rows, not the whole image: RISK_BAND rows out of
# every RISK_PERIOD, each computed with RISK_MARGIN rows either side so the bands' inner rows are
# what the whole image's filter gives there (two box passes of the largest radius, 4).
RISK_BAND, RISK_PERIOD, RISK_MARGIN = 32, 256, 8


def check_risk_choices(choices) -> None:
    """A sidecar's ``color.chroma.choose_by_risk``: absent, or [radius, epsilon] pairs with radii
    the risk's bands take (1 to ``RISK_MARGIN`` / 2) and positive epsilons; ValueError if not."""
    if choices is None:
        return

    def valid(choice) -> bool:
        return (
            isinstance(choice, list)
            and len(choice) == 2
            and isinstance(choice[0], int)
            and 1 <= choice[0] <= RISK_MARGIN // 2
            and isinstance(choice[1], int | float)
            and choice[1] > 0
        )

    if not (isinstance(choices, list) and choices and all(valid(choice) for choice in choices)):
        largest = RISK_MARGIN // 2
        raise ValueError(f"choose_by_risk must be a list of [radius 1-{largest}, epsilon > 0] pairs, got {choices!r}")


def _band_starts(height: int) -> list[int]:
    """The first inner row of each band of rows the risk is read off (none where none fits)."""
    return [
        start
        for start in range((RISK_PERIOD - RISK_BAND) // 2, height, RISK_PERIOD)
        if start >= RISK_MARGIN and start + RISK_BAND + RISK_MARGIN <= height
    ]


def _risk_bands(image: torch.Tensor, starts: list[int]) -> torch.Tensor:
    """Those bands of N x C x H x W with their margins, stacked along the batch:
    (N * bands) x C x (RISK_BAND + 2 RISK_MARGIN) x W; the whole image where no band fits."""
    if not starts:
        return image
    bands = [image[..., start - RISK_MARGIN : start + RISK_BAND + RISK_MARGIN, :] for start in starts]
    return torch.stack(bands, dim=1).flatten(0, 1)


def _risk(
    guide: torch.Tensor, source: torch.Tensor, variance: torch.Tensor, trust: torch.Tensor, radius: int, epsilon: float
) -> torch.Tensor:
    """Stein's unbiased risk estimate of one guided filter setting per image and channel (N x C),
    less a constant: the squared change it makes plus twice the variance it keeps of each pixel's
    own noise, over trusted pixels."""
    count, starts = source.shape[0], _band_starts(source.shape[-2])
    guide, source, variance, trust = (_risk_bands(t, starts) for t in (guide, source, variance, trust))
    margin = RISK_MARGIN if starts else 0  # a whole image has no margin rows to drop
    inner = slice(margin, guide.shape[-2] - margin)
    filtered = guided_filter(guide, source, radius, epsilon)[..., inner, :]
    kept = guided_filter_self_weight(guide, radius, epsilon)[..., inner, :]
    source, variance, trust = (t[..., inner, :] for t in (source, variance, trust))
    risk = (trust * ((filtered - source).square() + 2 * variance * kept)).sum(dim=(-2, -1))
    return risk.view(count, -1, source.shape[1]).sum(dim=1)


def sure_guided_filter(
    guide: torch.Tensor,
    source: torch.Tensor,
    variance: torch.Tensor,
    trust: torch.Tensor,
    settings: list[tuple[int, float]],
) -> torch.Tensor:
    """The guided filter of ``source`` (N x C) with, per image and channel, the (radius, epsilon)
    of ``settings`` whose Stein's unbiased risk estimate is lowest.

    For white noise of per-pixel ``variance`` (N x C x H x W) the filter's mean squared error is
    estimated without the clean image (``_risk``, over ``trust``, N x 1 in 0-1: an impulse-filled
    pixel is not a noisy observation), on bands of rows (``_risk_bands``: an eighth of a
    photo's pixels at most). A photo whose colour detail is fine keeps a light filter and a flat one
    gets a sharper one, where one setting for all photos had to choose (docs/RESULTS.md,
    sixteenth session). Radii up to 4 (``RISK_MARGIN``).
    """
    if max(radius for radius, _ in settings) * 2 > RISK_MARGIN:
        raise ValueError(f"the risk's bands take radii up to {RISK_MARGIN // 2}, got {settings}")
    risks = torch.stack([_risk(guide, source, variance, trust, *setting) for setting in settings])
    choice = risks.argmin(dim=0).tolist()  # N x C: the index of each image and channel's setting
    result = torch.empty_like(source)
    for image, chosen in enumerate(choice):
        for index in set(chosen):  # each setting filters only the channels that chose it
            channels = [channel for channel, which in enumerate(chosen) if which == index]
            picked = source[image : image + 1, channels]
            result[image, channels] = guided_filter(guide[image : image + 1], picked, *settings[index])[0]
    return result


def guided_filter(guide: torch.Tensor, source: torch.Tensor, radius: int, epsilon: float) -> torch.Tensor:
    """Gray-guided filter (He, Sun, Tang 2010): ``source`` N x C x H x W follows ``guide`` N x 1."""
    mean_guide, mean_square, mean_source, mean_product = box_filters(
        [guide, guide * guide, source, guide * source], radius
    )
    covariance = mean_product - mean_guide * mean_source
    variance = mean_square - mean_guide * mean_guide
    slope = covariance / (variance + epsilon)
    intercept = mean_source - slope * mean_guide
    mean_slope, mean_intercept = box_filters([slope, intercept], radius)
    return mean_slope * guide + mean_intercept
