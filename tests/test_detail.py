import math

import pytest
import torch
import torch.nn.functional as F
from conftest import smooth_rgb

from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE
from denoisecli.color import gaussian_blur
from denoisecli.detail import median3x3, restore_detail, trusted_pixels
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
