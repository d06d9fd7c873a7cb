"""The crop sampler's texture options: ``texture``, ``zoom_out`` and ``min_texture``."""

import numpy as np
import pytest
from conftest import write_png

from denoisecli.data import FLAT_KEEP, RandomCrops, load_rgb, texture
from denoisecli.errors import DenoiseError


def as_crop(gray_0_255: np.ndarray) -> np.ndarray:
    """A 3 x H x W int16 crop in ``load_rgb``'s encoding from one 0-255 grey plane."""
    shifted = np.round(gray_0_255 / 255.0 * 65535.0) - 32768.0
    return np.repeat(shifted[None], 3, axis=0).astype(np.int16)


def test_texture_reads_as_the_sigma_of_white_noise_and_zero_on_flat():
    rng = np.random.default_rng(0)
    assert texture(as_crop(np.full((64, 64), 120.0))) == pytest.approx(0.0, abs=1e-3)
    ramp = np.tile(np.linspace(0, 200, 64), (64, 1))
    assert texture(as_crop(ramp)) < 0.5  # a smooth gradient has no high frequencies
    noisy = 128 + rng.normal(0, 10, (128, 128))
    assert texture(as_crop(noisy)) == pytest.approx(10.0, rel=0.1)


def test_zoom_out_area_averages_and_keeps_size(tmp_path):
    # One-pixel stripes: a crop at zoom 1 is all stripes; at zoom 2 and up every block averages
    # to the same grey, so both kinds must appear and the grey must be the stripes' mean.
    stripes = np.zeros((200, 200, 3), np.float32)
    stripes[::2] = 1.0
    path = write_png(tmp_path / "stripes.png", stripes)
    crops = RandomCrops([path], 32, seed=0, length=40, zoom_out=3)
    items = [crops[index].numpy() for index in range(40)]
    assert all(item.shape == (3, 32, 32) for item in items)
    flat = [item for item in items if item.std() == 0]
    assert flat and len(flat) < len(items)
    grey = (flat[0][0, 0, 0] + 32768.0) / 65535.0
    assert grey == pytest.approx(0.5, abs=0.01)


def test_zoom_out_is_capped_by_a_small_photo(tmp_path):
    rng = np.random.default_rng(1)
    path = write_png(tmp_path / "small.png", rng.random((40, 40, 3)).astype(np.float32))
    crops = RandomCrops([path], 32, seed=0, length=10, zoom_out=4)
    photo = load_rgb(path)
    for index in range(10):
        crop = crops[index].numpy()
        assert crop.shape == (3, 32, 32)
        assert set(np.unique(crop)) <= set(np.unique(photo))  # raw pixels, never an average


def test_min_texture_thins_out_flat_crops_but_keeps_some(tmp_path):
    rng = np.random.default_rng(2)
    flat = write_png(tmp_path / "flat.png", np.full((64, 64, 3), 0.5, np.float32))
    busy = write_png(tmp_path / "busy.png", np.clip(0.5 + rng.normal(0, 0.1, (64, 64, 3)), 0, 1).astype(np.float32))

    def flat_share(min_texture: float) -> float:
        crops = RandomCrops([flat, busy], 32, seed=5, length=300, min_texture=min_texture)
        return float(np.mean([texture(crops[index].numpy()) < 1 for index in range(300)]))

    assert flat_share(0.0) == pytest.approx(0.5, abs=0.1)
    # Each draw is flat half the time and a flat one is kept with odds FLAT_KEEP, else redrawn.
    expected = 0.5 * FLAT_KEEP / (1 - 0.5 * (1 - FLAT_KEEP))
    assert flat_share(5.0) == pytest.approx(expected, abs=0.07)


def test_texture_options_are_deterministic_in_seed_and_index(tmp_path):
    rng = np.random.default_rng(3)
    path = write_png(tmp_path / "photo.png", rng.random((120, 130, 3)).astype(np.float32))
    first = RandomCrops([path], 32, seed=9, length=5, zoom_out=3, min_texture=80.0)
    second = RandomCrops([path], 32, seed=9, length=5, zoom_out=3, min_texture=80.0)
    for index in (4, 0, 2):  # any order: item i depends on (seed, i) alone
        assert np.array_equal(first[index].numpy(), second[index].numpy())


def test_zoom_out_below_one_is_refused(tmp_path):
    path = write_png(tmp_path / "photo.png", np.zeros((40, 40, 3), np.float32))
    with pytest.raises(DenoiseError, match="zoom-out"):
        RandomCrops([path], 32, seed=0, length=1, zoom_out=0)
