"""The pre and post steps around the network that training, validation and inference share.

In: RGB -> LAB, L scaled to [-1, 1] for the network. Out: the network's L, with the detail it
removed above the noise given back (``detail``); A/B with impulses filled, smoothed guided by that
L (``color``) once the part of their noise that is predictable is out (``lab_noise``), their own
detail given back the same way; isolated salt-and-pepper pixels of both
set to their neighbours' mean (``detail.fill_impulses``); LAB -> RGB. One function each way, so
validation scores exactly what ``denoise`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from denoisecli.color import (
    fill_outliers,
    filter_chroma,
    gray_to_lightness,
    lab_to_rgb,
    lightness_to_gray,
    outlier_weights,
    rgb_to_lab,
    scale_chroma,
    scale_lightness,
    sure_guided_filter,
    unscale_lightness,
)
from denoisecli.detail import (
    MOST_UNTRUSTED,
    fill_impulses,
    isolated_impulses,
    restore_detail,
    strength_multiplier,
    trusted_pixels,
)
from denoisecli.lab_noise import (
    LabNoise,
    RgbNoise,
    corrected_chroma,
    lab_noise,
    lightness_correction,
    residual_chroma_variance,
    rgb_noise,
)
from denoisecli.noise import estimate_noise_level, saturated
from denoisecli.wiener import dct_wiener

MIN_RESTORE_SIDE = 3


def network_input(image: torch.Tensor, chroma: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (N x 3) or gray (N x 1) in [0, 1] -> (LAB N x 3 or L N x 1, network input N x 1).

    With ``chroma`` (a model whose ``config.chroma_input`` is set) the network input is N x 3:
    scaled L, then A and B (``scale_chroma``; zeros for a gray image, which has no colour).
    """
    lab = rgb_to_lab(image) if image.shape[1] == 3 else gray_to_lightness(image)
    return lab, lab_to_network_input(lab, chroma)


def lab_to_network_input(lab: torch.Tensor, chroma: bool = False) -> torch.Tensor:
    """LAB (N x 3) or L (N x 1) -> the network input, as ``network_input`` gives it from RGB or gray."""
    lightness = scale_lightness(lab[:, :1])
    if not chroma:
        return lightness
    ab = scale_chroma(lab[:, 1:]) if lab.shape[1] == 3 else lightness.new_zeros(lightness.shape).expand(-1, 2, -1, -1)
    return torch.cat([lightness, ab], dim=1)


def network_output_to_image(
    noisy_lab: torch.Tensor,
    output: torch.Tensor,
    chroma: dict,
    restore: dict | None = None,
    noisy_rgb: torch.Tensor | None = None,
) -> torch.Tensor:
    """Denoised scaled L (N x 1) + the noisy LAB -> RGB (or gray) in [0, 1].

    ``chroma`` holds ``method``, ``sigma``, ``radius``, ``epsilon``, ``fill_sigma`` and ``tolerance``
    (see ``color.smooth_chroma``); ``restore`` holds ``radius``, ``strength``, ``chroma_strength``
    and ``impulse_threshold``, and optionally ``strength_by_noise`` (both strengths scaled by the
    noise level estimated per image, ``detail.strength_multiplier``), ``most_untrusted`` (see
    ``detail.isolated_impulses``), ``wiener`` (L's detail given back by the DCT Wiener filter
    on noisy photos, ``restore_lightness``) and ``sharpening_guard`` (false: detail is given back
    where the model sharpened too, ``detail.trusted_pixels``; default true; a per-photo rule is
    resolved by ``inference.Denoiser``) and ``lab_noise`` (true: the bias of the noisy A/B and
    the share of their noise that L's predicts are taken out before smoothing,
    ``lab_noise.corrected_chroma``; default false) with ``lightness_from_chroma`` (true: L's
    detail is given back from a noisy L with the share of its noise that A/B's predicts taken
    out, ``lab_noise.lightness_correction``; default false) and ``noise_from_differences``
    (true: that L correction reads the RGB noise level off the channels' differences too and
    takes the smaller, ``lab_noise.rgb_noise``; default false), or is None for the smoothed
    outputs as they are.
    The checkpoint sidecar carries both. ``noisy_rgb`` is the RGB that ``noisy_lab`` came from,
    where the caller has it: ``lab_noise`` reads the noise level off it.
    """
    if min(noisy_lab.shape[-2:]) < MIN_RESTORE_SIDE:
        restore = None  # no 3x3 window to estimate the noise from
    light = restored_lightness(noisy_lab, output, restore, noisy_rgb)
    trusted, impulses, rgb, noise, multiplier = light.trusted, light.impulses, light.rgb, light.noise, light.multiplier
    lightness = unscale_lightness(light.output).clamp(0, 100)
    if noisy_lab.shape[1] == 1:
        return lightness_to_gray(lightness)
    weights = outlier_weights(noisy_lab[:, :1], lightness, chroma["tolerance"])
    filled = fill_outliers(noisy_lab[:, 1:], weights, chroma["fill_sigma"])
    if rgb is not None:
        noise = noise if noise is not None else lab_noise(rgb, lightness, filled)
        filled = corrected_chroma(noisy_lab, lightness, filled, weights, noise)
    choices = chroma.get("choose_by_risk")
    if rgb is not None and choices and chroma["method"] == "guided":
        # Per image and channel, the guided filter setting with the lowest estimated error
        # (``color.sure_guided_filter``), from the noise variance the LAB noise model leaves.
        settings = [(int(radius), float(epsilon)) for radius, epsilon in choices]
        variance = residual_chroma_variance(noise, filled)
        ab = sure_guided_filter(lightness, filled, variance, weights, settings)
    else:
        ab = filter_chroma(filled, lightness, chroma["method"], chroma["sigma"], chroma["radius"], chroma["epsilon"])
    if restore is not None:
        chroma_strength = restore["chroma_strength"] * multiplier
        ab = restore_detail(filled, ab, _chroma_noise(filled, trusted), chroma_strength, restore["radius"], trusted)
        ab = fill_impulses(ab, impulses)
    return lab_to_rgb(torch.cat([lightness, ab], dim=1))


@dataclass
class RestoredLightness:
    """The L half of ``network_output_to_image``: the scaled L it writes, and what the A/B half
    reuses (None without a restore step)."""

    output: torch.Tensor
    trusted: torch.Tensor | None = None
    impulses: torch.Tensor | None = None
    rgb: RgbNoise | None = None
    noise: LabNoise | None = None
    multiplier: torch.Tensor | float = 1.0


def restored_lightness(
    noisy_lab: torch.Tensor, output: torch.Tensor, restore: dict | None, noisy_rgb: torch.Tensor | None = None
) -> RestoredLightness:
    """The network's scaled L with the restore step's detail given back and impulses filled, as
    ``network_output_to_image`` writes it. Differentiable in ``output`` (``train --restore-loss``
    trains the network through it)."""
    if restore is None:
        return RestoredLightness(output)
    noisy_scaled = scale_lightness(noisy_lab[:, :1])
    rgb = noise = None
    if noisy_lab.shape[1] == 3 and restore.get("lab_noise", False):
        noisy_rgb = lab_to_rgb(noisy_lab, clip=False) if noisy_rgb is None else noisy_rgb
        rgb = rgb_noise(noisy_rgb, restore.get("noise_from_differences", False))
    if rgb is not None and restore.get("lightness_from_chroma", False):
        # The restore step gives detail back from a noisy L with the part of its noise that
        # A/B's noise predicts taken out (``lab_noise.lightness_correction``), the clean colour
        # estimated from the network's L and the noisy A/B; the A/B correction reuses it.
        noise = lab_noise(rgb, unscale_lightness(output.detach()).clamp(0, 100), noisy_lab[:, 1:])
        # 0 for an image of a batch that reads no noise (a photo alone that reads none has no ``rgb``).
        variance_scale = (rgb.lightness_sigma / rgb.sigma.clamp_min(1e-12)).square()
        noisy_scaled = noisy_scaled - lightness_correction(noisy_lab, noise, variance_scale) / 50.0
    sigma = restore_noise_level(noisy_scaled)
    multiplier = strength_multiplier(sigma * 50.0, restore.get("strength_by_noise"))  # L units
    # Only an explicit false turns the guard off; a per-photo rule ({"max_noise": N}) that
    # nobody resolved for this photo (``inference.Denoiser`` does) keeps it, as before.
    guard = restore.get("sharpening_guard", True) is not False
    trusted = trusted_pixels(noisy_scaled, (noisy_scaled - output).detach(), sigma, restore["impulse_threshold"], guard)
    output = restore_lightness(noisy_scaled, output, sigma, multiplier, trusted, restore)
    impulses = isolated_impulses(
        noisy_scaled, trusted, sigma, restore["impulse_threshold"], restore.get("most_untrusted", MOST_UNTRUSTED)
    )
    return RestoredLightness(fill_impulses(output, impulses), trusted, impulses, rgb, noise, multiplier)


def restore_lightness(
    noisy: torch.Tensor,
    output: torch.Tensor,
    sigma: torch.Tensor,
    multiplier: torch.Tensor | float,
    trusted: torch.Tensor,
    restore: dict,
) -> torch.Tensor:
    """The network's scaled L with detail given back: by the local gain of
    ``detail.restore_detail``, or, on a noisy photo, by the DCT Wiener filter that the sidecar's
    ``restore.wiener`` names (``{"block": B, "stride": S, "from_noise": [LOW, HIGH]}``, and
    optionally ``"repeat": [LOW, HIGH]``: the filter run a second time with its first output as
    the pilot, all of it under an estimated noise of LOW, blended out to none at HIGH, and
    ``"repeat_floor": true``: that pass's pilot power at least the network's).

    The filter takes over from the local gain as the estimated noise (L units, 0-100) rises from
    LOW to HIGH, blended linearly between. Below LOW (a clean photo, salt-and-pepper, knockout,
    blur: their noise reads under 1) the local gain alone runs, so those outputs do not change:
    there the filter lost 0.5 dB, putting back less of the detail the network took from the
    pixels it does not trust. It takes ``restore.strength`` as it is, not the noise schedule,
    which corrects the local gain's reading of a very noisy residual as signal; the Wiener gain is
    set per frequency by the pilot (docs/RESULTS.md, "A DCT Wiener filter for L"). Untrusted
    pixels (impulses, saturation, sharpening) enter it with the network's value.
    """
    wiener = restore.get("wiener")

    def local() -> torch.Tensor:
        return restore_detail(noisy, output, sigma, restore["strength"] * multiplier, restore["radius"], trusted)

    if not wiener:
        return local()
    noise = sigma * 50.0  # L units, as the noise schedule reads it
    share = _rising(noise, wiener.get("from_noise", (0.0, 0.0)))
    if not bool((share > 0).any()):
        return local()
    source = torch.where(trusted.bool(), noisy, output)
    shape = int(wiener["block"]), int(wiener["stride"]), bool(wiener.get("quincunx", False))
    # A second pass with the first output as the pilot: the network's output smooths fine
    # texture away, so its coefficients there are too weak and the first pass keeps too little
    # of the noisy texture; the first output shows that texture nearer its strength. On very
    # noisy photos the first output's own noise inflates the gains instead, so the second pass
    # fades out as the noise rises; with ``repeat_floor`` it never shrinks a coefficient more
    # than the first pass did, which a clean textured photo read as noisy needs (docs/RESULTS.md,
    # "The Wiener filter twice").
    repeat = 1.0 - _rising(noise, wiener["repeat"]) if "repeat" in wiener else None
    floor = bool(wiener.get("repeat_floor", False))
    filtered = dct_wiener(source, output, sigma, restore["strength"], *shape, repeat=repeat, floor=floor)
    if bool((share >= 1).all()):
        return filtered
    return torch.lerp(local(), filtered, share)


def _rising(noise: torch.Tensor, bounds) -> torch.Tensor:
    """0 below ``bounds``' LOW, 1 from HIGH, linear between (a step at LOW where they are equal)."""
    low, high = (float(v) for v in bounds)
    return ((noise - low) / (high - low)).clamp(0, 1) if high > low else (noise >= low).to(noise)


def restore_noise_level(noisy_scaled: torch.Tensor) -> torch.Tensor:
    """The noise level (N x 1 x 1 x 1, scaled-L units) the restore step reads off a noisy scaled
    L, saturated pixels (impulses, clipping) left out."""
    return estimate_noise_level(noisy_scaled, ~saturated(noisy_scaled), step=2).view(-1, 1, 1, 1)


def _chroma_noise(chroma: torch.Tensor, trusted: torch.Tensor) -> torch.Tensor:
    """Noise level per image and channel of A/B (N x 2 x 1 x 1), from trusted pixels only."""
    count, channels = chroma.shape[:2]
    flat = chroma.reshape(count * channels, 1, *chroma.shape[-2:])
    valid = trusted.bool().repeat_interleave(channels, dim=0)
    return estimate_noise_level(flat, valid, step=2).view(count, channels, 1, 1)
