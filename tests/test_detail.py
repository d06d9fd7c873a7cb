import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import smooth_rgb

from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE, load_model
from denoisecli.color import gaussian_blur
from denoisecli.detail import (
    check_strength_schedule,
    fill_impulses,
    isolated_impulses,
    median3x3,
    restore_detail,
    strength_multiplier,
    trusted_pixels,
)
from denoisecli.errors import DenoiseError
from denoisecli.inference import Denoiser
from denoisecli.metrics import psnr
from denoisecli.models import build_model
from denoisecli.noise import estimate_noise_level, saturated
from denoisecli.pipeline import network_input, network_output_to_image


def stripes(height: int = 64, width: int = 64, amplitude: float = 0.2) -> torch.Tensor:
    """Fine texture (period 8 px) on scaled L: what a blurring model takes for noise."""
    columns = torch.arange(width, dtype=torch.float32)
    return (amplitude * torch.sin(columns * math.pi / 4)).expand(1, 1, height, width).clone()


@pytest.mark.parametrize("shape", [(1, 1, 7, 9), (2, 3, 20, 13)])
def test_median3x3_matches_a_sorting_median(shape):
    image = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    flat = F.pad(image.reshape(-1, 1, *shape[-2:]), (1, 1, 1, 1), mode="reflect")
    expected = F.unfold(flat, 3).median(dim=1).values.view(*shape)
    assert torch.equal(median3x3(image), expected)


def test_restore_gives_back_texture_above_the_noise_and_keeps_noise_out():
    generator = torch.Generator().manual_seed(1)
    sigma = torch.tensor(0.02).view(1, 1, 1, 1)
    texture = stripes()
    noise = sigma * torch.randn(texture.shape, generator=generator)
    trusted = torch.ones_like(texture)
    # The smoother removed the texture along with the noise: most of the texture comes back.
    restored = restore_detail(texture + noise, torch.zeros_like(texture), sigma, 1.0, 7, trusted)
    assert (restored - texture).pow(2).mean().sqrt() < 1.5 * sigma.item()
    # Flat and noisy: what was removed was noise, and stays out.
    flat = torch.zeros_like(texture)
    restored = restore_detail(flat + noise, flat, sigma, 1.0, 7, trusted)
    assert (restored - flat).pow(2).mean().sqrt() < 0.4 * sigma.item()


def test_restore_strength_spans_input_to_smoothed_and_skips_untrusted_pixels():
    noisy, smoothed = stripes(), torch.zeros(1, 1, 64, 64)
    sigma = torch.tensor(0.05).view(1, 1, 1, 1)
    trusted = torch.ones_like(noisy)
    trusted[..., 10, 10] = 0
    kept = trusted.bool()
    assert torch.allclose(restore_detail(noisy, smoothed, sigma, 0.0, 7, trusted)[kept], noisy[kept])
    assert torch.equal(restore_detail(noisy, smoothed, sigma, 1e9, 7, trusted), smoothed)
    assert restore_detail(noisy, smoothed, sigma, 1.0, 7, trusted)[..., 10, 10] == 0


def test_saturated_and_isolated_impulse_pixels_are_not_trusted():
    image = stripes(amplitude=0.1)
    noisy = image.clone()
    noisy[..., 5, 5], noisy[..., 20, 30], noisy[..., 40, 41] = 1.0, -1.0, 0.6  # two saturated, one hot pixel
    removed = noisy - image  # a model that removed exactly the impulses
    sigma = torch.tensor(0.01).view(1, 1, 1, 1)
    trusted = trusted_pixels(noisy, removed, sigma, DEFAULT_RESTORE["impulse_threshold"])
    assert saturated(noisy).sum() == 2
    for row, column in [(5, 5), (20, 30), (40, 41)]:
        assert trusted[0, 0, row, column] == 0
    assert trusted.sum() == trusted.numel() - 3
    # Texture the model removed is no impulse: it stays trusted.
    assert trusted_pixels(image, image, sigma, 4.0).all()


def test_noise_estimate_ignores_saturated_impulses_when_told_which_pixels_are_valid():
    lightness = torch.from_numpy(smooth_rgb(120, 160, seed=2))[..., 0][None, None] * 1.6 - 0.8
    generator = torch.Generator().manual_seed(0)
    noisy = lightness + 0.03 * torch.randn(lightness.shape, generator=generator)
    hit = torch.rand(lightness.shape, generator=generator) < 0.05
    noisy = torch.where(hit, torch.sign(torch.rand(lightness.shape, generator=generator) - 0.5), noisy)
    assert estimate_noise_level(noisy).item() > 0.05  # impulses read as strong noise
    for step in (1, 2):
        assert estimate_noise_level(noisy, ~saturated(noisy), step).item() == pytest.approx(0.03, rel=0.1)


def test_pipeline_hands_back_a_clean_photo_a_blurring_model_would_soften():
    clean = torch.from_numpy(smooth_rgb(64, 64, seed=3)).permute(2, 0, 1)[None]
    clean = (clean + 0.15 * stripes(64, 64, 1.0)).clamp(0, 1)  # texture in every channel
    lab, lightness = network_input(clean)
    softened = gaussian_blur(lightness, 1.0)  # what the shipped model does to a clean input
    without = psnr(network_output_to_image(lab, softened, DEFAULT_CHROMA), clean).item()
    restored = psnr(network_output_to_image(lab, softened, DEFAULT_CHROMA, DEFAULT_RESTORE), clean).item()
    assert restored > without + 10


def test_denoiser_strength_inf_is_the_raw_pipeline_and_negative_is_refused():
    model = build_model("shallow", width=4)
    assert Denoiser.from_model(model, torch.device("cpu"), strength=math.inf).restore is None
    doubled = Denoiser.from_model(build_model("shallow", width=4), torch.device("cpu"), strength=2.0).restore
    assert doubled["strength"] == 2 * DEFAULT_RESTORE["strength"]
    with pytest.raises(ValueError, match="strength"):
        Denoiser.from_model(build_model("shallow", width=4), torch.device("cpu"), strength=-1.0)


def test_a_model_that_sharpens_a_blurred_input_is_not_undone():
    clean = torch.from_numpy(smooth_rgb(64, 64, seed=4)).permute(2, 0, 1)[None]
    clean = (clean + 0.15 * stripes(64, 64, 1.0)).clamp(0, 1)
    blurred = gaussian_blur(clean, 1.5)
    lab, lightness = network_input(blurred)
    sharpened_l = lightness + 1.5 * (lightness - gaussian_blur(lightness, 1.5))  # unsharp mask: a deblurring model
    raw = network_output_to_image(lab, sharpened_l, DEFAULT_CHROMA)
    restored = network_output_to_image(lab, sharpened_l, DEFAULT_CHROMA, DEFAULT_RESTORE)
    assert psnr(restored, raw).item() > 40  # the model's sharpening survives
    assert psnr(raw, clean).item() > psnr(blurred, clean).item()  # and it was worth keeping
    # Without the guard (a sidecar for a model that does not deblur) the change goes back.
    unguarded_restore = {**DEFAULT_RESTORE, "sharpening_guard": False}
    unguarded = network_output_to_image(lab, sharpened_l, DEFAULT_CHROMA, unguarded_restore)
    assert psnr(unguarded, blurred).item() > psnr(unguarded, raw).item() + 5


def _shallow_with_guard(tmp_path, guard) -> Path:
    """A copy of the shipped ``shallow`` whose sidecar sets ``restore.sharpening_guard``."""
    from conftest import shallow_with_setting

    return shallow_with_setting(tmp_path, "restore", "sharpening_guard", guard)


@pytest.mark.parametrize("guard", ["no", {"max_noise": -1}, {"noise": 1}, {"max_noise": "x"}])
def test_a_sidecar_with_a_bad_sharpening_guard_is_a_one_line_error(tmp_path, guard):
    with pytest.raises(DenoiseError, match="sharpening_guard must be") as error:
        load_model(_shallow_with_guard(tmp_path, guard))
    assert "\n" not in str(error.value)


def test_a_per_photo_guard_stays_on_for_a_photo_that_may_be_blurred_and_goes_off_for_a_textured_one(tmp_path):
    denoiser = Denoiser.load(_shallow_with_guard(tmp_path, {"max_noise": 0.5}), torch.device("cpu"))
    grain = torch.rand(64, 64, 1, generator=torch.Generator().manual_seed(5)) - 0.5  # fine texture: reads as noise
    textured = (torch.from_numpy(smooth_rgb(64, 64, seed=5)) + 0.04 * grain).clamp(0, 1)
    blurred = gaussian_blur(textured.permute(2, 0, 1)[None], 1.5)[0].permute(1, 2, 0)
    for photo, guard in [(textured.numpy(), False), (blurred.contiguous().numpy(), True)]:
        assert denoiser.photo_restore(photo)["sharpening_guard"] is guard
        explicit = Denoiser.load(_shallow_with_guard(tmp_path, guard), torch.device("cpu"))
        assert np.array_equal(denoiser.pixels(photo), explicit.pixels(photo))
        # Decided once for the whole photo, so every tile of a tiled run gets the same answer.
        assert np.array_equal(denoiser.pixels(photo, tile=32, overlap=8), explicit.pixels(photo, tile=32, overlap=8))


def brute_force_fill(noisy, image, trusted, sigma, threshold):
    """The fill's definition, pixel by pixel (reflect-padded 3x3 windows)."""
    pad = lambda t: F.pad(t, (1, 1, 1, 1), mode="reflect")  # noqa: E731
    noisy_p, image_p, trusted_p = pad(noisy), pad(image), pad(trusted)
    filled = image.clone()
    for n in range(noisy.shape[0]):
        for y in range(noisy.shape[2]):
            for x in range(noisy.shape[3]):
                window = noisy_p[n, 0, y : y + 3, x : x + 3]
                weights = trusted_p[n, 0, y : y + 3, x : x + 3]
                stands_out = (window[1, 1] - window.median()).abs() > threshold * sigma[n]
                if saturated(window[1, 1]) and stands_out and weights.sum() >= 7:
                    values = image_p[n, :, y : y + 3, x : x + 3]
                    filled[n, :, y, x] = (values * weights).sum(dim=(1, 2)) / weights.sum()
    return filled


def test_isolated_saturated_impulses_take_their_trusted_neighbours_mean():
    generator = torch.Generator().manual_seed(3)
    noisy = 0.6 * torch.rand(2, 1, 12, 10, generator=generator) - 0.3
    spots = torch.rand(noisy.shape, generator=generator)
    noisy[spots < 0.06] = -1.0  # pepper
    noisy[spots > 0.94] = 1.0  # salt
    noisy[0, 0, 6:9, 2:5] = 1.0  # a clipped highlight (or knockout block): not isolated
    noisy[1, 0, 3, 3] = -1.0  # saturated, but in a dark patch it does not stand out from
    noisy[1, 0, 2:5, 2:5] = noisy[1, 0, 2:5, 2:5].clamp(max=-0.97)
    trusted = (~saturated(noisy) & (torch.rand(noisy.shape, generator=generator) > 0.1)).float()
    sigma = torch.tensor([0.05, 0.02])
    image = torch.randn(2, 2, 12, 10, generator=generator)  # e.g. A/B: every channel is filled alike

    filled = fill_impulses(image, isolated_impulses(noisy, trusted, sigma, 4.0))

    assert torch.allclose(filled, brute_force_fill(noisy, image, trusted, sigma, 4.0), atol=1e-6)
    changed = (filled != image).any(dim=1)
    assert 0 < changed.sum() <= (saturated(noisy)).sum()
    assert not changed[0, 6:9, 2:5].any() and not changed[1, 3, 3]


def test_a_photo_without_saturated_pixels_has_no_impulses_to_fill():
    noisy = 0.5 * torch.rand(1, 1, 8, 8) - 0.25
    image = torch.rand(1, 2, 8, 8)
    impulses = isolated_impulses(noisy, torch.ones_like(noisy), torch.tensor([0.05]), 4.0)
    assert impulses is None
    assert fill_impulses(image, impulses) is image


def test_the_pipeline_fills_salt_and_pepper_a_model_left_in_place():
    from denoisecli.noise import salt_and_pepper

    clean = torch.from_numpy(smooth_rgb(48, 64)).permute(2, 0, 1)[None]
    noisy = salt_and_pepper(clean, torch.Generator().manual_seed(0), 0.05)
    lab, network_in = network_input(noisy)
    # A model that changes nothing: only the fill can take the impulses out, in L and in A/B.
    restored = network_output_to_image(lab, network_in, DEFAULT_CHROMA, DEFAULT_RESTORE)
    assert psnr(restored, clean).item() > psnr(noisy, clean).item() + 8  # 11.6 dB with the fill, 0.9 without
    # The sidecar may say how many untrusted pixels an impulse's 3x3 may hold: 0 fills none.
    unfilled = network_output_to_image(lab, network_in, DEFAULT_CHROMA, {**DEFAULT_RESTORE, "most_untrusted": 0})
    more = network_output_to_image(lab, network_in, DEFAULT_CHROMA, {**DEFAULT_RESTORE, "most_untrusted": 4})
    assert psnr(unfilled, clean).item() < psnr(noisy, clean).item() + 2 < psnr(restored, clean).item()
    assert psnr(more, clean).item() >= psnr(restored, clean).item()


def test_strength_multiplier_is_piecewise_linear_in_the_noise_and_flat_beyond_its_ends():
    noise = torch.tensor([0.0, 1.0, 2.0, 5.0, 8.0, 20.0])
    got = strength_multiplier(noise, [[1.0, 0.5], [2.0, 1.0], [8.0, 4.0]])
    assert torch.allclose(got, torch.tensor([0.5, 0.5, 1.0, 2.5, 4.0, 4.0]))
    assert strength_multiplier(noise, None) == 1.0
    assert torch.equal(strength_multiplier(noise, [[3.0, 2.0]]), torch.full_like(noise, 2.0))


@pytest.mark.parametrize("schedule", [[[2.0, 1.0], [1.0, 2.0]], [[1.0, -1.0]], [], [[1.0]], "x"])
def test_a_strength_schedule_needs_rising_noise_levels_and_multipliers_of_zero_or_more(schedule):
    with pytest.raises(ValueError, match="strength_by_noise"):
        check_strength_schedule(schedule)


def test_the_pipeline_reads_the_restore_strength_from_each_photos_noise_level():
    clean = torch.from_numpy(smooth_rgb(64, 64, seed=4)).permute(2, 0, 1)[None]
    clean = (clean + 0.1 * stripes(64, 64, 1.0)).clamp(0, 1)
    softened = lambda lightness: gaussian_blur(lightness, 1.0)  # noqa: E731 - a blurring "model"
    # Strength 1 below 1 L unit of estimated noise, all but the raw output above 2.
    schedule = {**DEFAULT_RESTORE, "strength_by_noise": [[1.0, 1.0], [2.0, 1e9]]}
    smoothed_out = {**DEFAULT_RESTORE, "strength": 1e9, "chroma_strength": 1e9}
    for noisy, expected in [
        (clean, DEFAULT_RESTORE),  # no noise: the schedule says 1
        (
            (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1),
            smoothed_out,
        ),
    ]:
        lab, lightness = network_input(noisy)
        output = softened(lightness)
        got = network_output_to_image(lab, output, DEFAULT_CHROMA, schedule)
        assert torch.allclose(got, network_output_to_image(lab, output, DEFAULT_CHROMA, expected), atol=1e-6)


def test_a_fill_that_takes_pairs_of_salt_still_spares_one_pixel_lines_and_2x2_highlights():
    sky = -0.8 + 0.01 * torch.randn(1, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    sky[..., 3, 2:10] = 1.0  # a straight line
    for step in range(6):  # a diagonal line that bends by 45 degrees halfway
        sky[..., 8 + step, 2 + step] = 1.0
        sky[..., 13, 8 + step] = 1.0
    sky[..., 16:18, 16:18] = 1.0  # a 2x2 highlight
    sky[..., 4:6, 15] = 1.0  # an L of three salt pixels
    sky[..., 5, 16] = 1.0
    trusted = (~saturated(sky)).float()
    sigma = torch.tensor([0.01])
    impulses = isolated_impulses(sky, trusted, sigma, 6.0, most_untrusted=3)
    taken = {(int(row), int(column)) for row, column in zip(impulses.row, impulses.column, strict=True)}
    assert {(4, 15), (5, 15), (5, 16)} <= taken  # the L: every pixel has two neighbours side by side
    inside = [(3, c) for c in range(3, 9)] + [(8 + s, 2 + s) for s in range(1, 6)] + [(13, c) for c in range(9, 13)]
    assert not taken & set(inside)
    assert not taken & {(16, 16), (16, 17), (17, 16), (17, 17)}
