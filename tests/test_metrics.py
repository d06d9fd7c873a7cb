import math

import pytest
import torch

from denoisecli.metrics import psnr, ssim


def test_psnr_reference_value():
    target = torch.zeros(1, 3, 8, 8)
    prediction = torch.full((1, 3, 8, 8), 0.1)  # MSE 0.01 -> 20 dB at peak 1
    assert psnr(prediction, target).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(prediction * 255, target, peak=255).item() == pytest.approx(20.0, abs=1e-4)
    assert math.isinf(psnr(target, target).item())


def test_psnr_is_per_image():
    target = torch.zeros(2, 1, 4, 4)
    prediction = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    assert psnr(prediction, target).tolist() == pytest.approx([20.0, 40.0], abs=1e-3)


def test_ssim_identical_is_one_and_noise_lowers_it():
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(image, image), torch.ones(2), atol=1e-6)
    noisy = image + 0.2 * torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert (ssim(noisy, image) < 0.9).all()


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
