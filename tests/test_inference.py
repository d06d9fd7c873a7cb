import numpy as np
import pytest
import torch

from denoisecli.inference import Denoiser, _tile_starts
from denoisecli.metrics import psnr


@pytest.fixture(scope="module")
def denoiser(tiny_model_path):
    return Denoiser.load(tiny_model_path, torch.device("cpu"))


@pytest.mark.parametrize(("height", "width", "channels"), [(31, 45, 3), (17, 64, 1), (5, 7, 3)])
def test_odd_sizes_come_back_at_their_size(denoiser, height, width, channels):
    pixels = np.random.default_rng(0).random((height, width, channels), dtype=np.float32)
    result = denoiser.pixels(pixels)
    assert result.shape == pixels.shape and result.dtype == np.float32
    assert 0 <= result.min() and result.max() <= 1


def test_tiled_equals_untiled_within_tolerance(denoiser):
    from conftest import smooth_rgb

    clean = smooth_rgb(300, 340, seed=5)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    whole = denoiser.pixels(noisy, tile=1024)
    tiled = denoiser.pixels(noisy, tile=128, overlap=32)
    as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    whole_psnr = psnr(as_tensor(whole), as_tensor(clean)).item()
    tiled_psnr = psnr(as_tensor(tiled), as_tensor(clean)).item()
    assert abs(whole_psnr - tiled_psnr) < 0.05


def test_tile_starts_cover_everything():
    assert _tile_starts(100, 128, 32) == [0]
    starts = _tile_starts(1000, 256, 64)
    assert starts[0] == 0 and starts[-1] == 1000 - 256
    assert all(b - a <= 256 - 64 for a, b in zip(starts, starts[1:], strict=False))


def test_bad_overlap_is_rejected(denoiser):
    with pytest.raises(ValueError, match="overlap"):
        denoiser.pixels(np.zeros((300, 300, 3), np.float32), tile=100, overlap=60)
