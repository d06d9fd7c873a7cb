import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import smooth_rgb

from denoisecli.checkpoint import load_model
from denoisecli.errors import DenoiseError
from denoisecli.impulses import _prefill_dense, check_prefill_settings, prefill_batch, prefill_impulses
from denoisecli.inference import Denoiser


def test_an_isolated_white_pixel_takes_its_neighbours_mean_and_the_input_is_kept():
    pixels = smooth_rgb(12, 12)
    pixels[5, 6] = 1.0
    before = pixels.copy()
    filled = prefill_impulses(pixels, threshold=0.3)
    expected = np.mean([pixels[5 + dy, 6 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx], axis=0)
    np.testing.assert_allclose(filled[5, 6], expected, rtol=1e-6)
    np.testing.assert_array_equal(
        np.delete(filled.reshape(-1, 3), 5 * 12 + 6, axis=0), np.delete(before.reshape(-1, 3), 5 * 12 + 6, axis=0)
    )
    np.testing.assert_array_equal(pixels, before)


def test_a_pair_of_impulses_is_filled_from_the_pixels_that_are_neither_black_nor_white():
    pixels = np.full((8, 8, 3), 0.5, np.float32)
    pixels[3, 3], pixels[3, 4] = 1.0, 0.0  # salt beside pepper
    filled = prefill_impulses(pixels, threshold=0.3)
    np.testing.assert_allclose(filled[3, 3:5], 0.5)


def test_clusters_pixels_near_their_neighbours_and_one_channel_extremes_are_left():
    pixels = np.full((12, 12, 3), 0.5, np.float32)
    pixels[1:4, 1:4] = 1.0  # a clipped highlight: every pixel has 3 or more white neighbours
    pixels[8:, 8:] = 0.1
    pixels[10, 10] = 0.0  # black in a dark area: 0.1 from its neighbours, under the threshold
    pixels[6, 2, 0] = 1.0  # saturated in one channel only: a colour, not an impulse
    np.testing.assert_array_equal(prefill_impulses(pixels, threshold=0.3), pixels)
    assert prefill_impulses(pixels, threshold=0.05)[10, 10, 0] == pytest.approx(0.1)


def test_a_corner_impulse_is_filled_from_its_three_neighbours_and_nothing_past_the_edge():
    pixels = np.full((6, 6, 1), 0.4, np.float32)
    pixels[0, 0] = 0.0
    assert prefill_impulses(pixels, threshold=0.3)[0, 0, 0] == pytest.approx(0.4)
    assert prefill_impulses(pixels, threshold=0.3, least_neighbours=4)[0, 0, 0] == 0.0


def test_a_photo_with_fewer_impulses_than_the_least_share_is_left_alone():
    pixels = np.full((20, 20, 3), 0.5, np.float32)
    pixels[5, 5] = pixels[12, 14] = 1.0  # 2 of 400 pixels: half a percent
    assert prefill_impulses(pixels, threshold=0.3, least_share=0.006) is pixels
    assert (prefill_impulses(pixels, threshold=0.3, least_share=0.005)[[5, 12], [5, 14]] == 0.5).all()


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"threshold": 2},
        {"threshold": 0.3, "most_same": 9},
        {"threshold": 0.3, "least_neighbours": 0},
        {"threshold": 0.3, "radius": 2},
        {"threshold": 0.3, "least_share": 2},
        {"threshold": 0.3, "most_noise": -1},
        {"threshold": 0.3, "from_opposite": "yes"},
        {"threshold": "x"},
        [0.3],
    ],
)
def test_bad_prefill_settings_are_refused(value, tiny_model_path, tmp_path):
    with pytest.raises(ValueError, match="prefill_impulses"):
        check_prefill_settings(value)
    sidecar = json.loads(tiny_model_path.with_suffix(".json").read_text())
    sidecar.setdefault("color", {}).setdefault("restore", {})["prefill_impulses"] = value
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(tiny_model_path.read_bytes())
    weights.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(DenoiseError, match="prefill_impulses"):
        load_model(weights)


def test_the_denoiser_runs_its_network_on_the_prefilled_photo(tiny_model_path):
    plain = Denoiser.load(tiny_model_path, torch.device("cpu"))
    settings = {"threshold": 0.3, "least_share": 0.001}
    prefilling = dataclasses.replace(plain, restore={**plain.restore, "prefill_impulses": settings})
    noisy = smooth_rgb(40, 56)
    hits = np.random.default_rng(0).random(noisy.shape[:2]) < 0.05
    noisy[hits] = (np.random.default_rng(1).random(hits.sum()) < 0.5)[:, None]
    np.testing.assert_array_equal(prefilling.pixels(noisy), plain.pixels(prefill_impulses(noisy, **settings)))
    assert not np.array_equal(prefilling.pixels(noisy), plain.pixels(noisy))


def test_a_noisy_photo_is_left_to_the_network_above_the_most_noise():
    pixels = smooth_rgb(64, 64)
    hits = np.random.default_rng(0).random(pixels.shape[:2]) < 0.05
    pixels[hits] = 1.0
    noisy = np.clip(pixels + np.random.default_rng(1).normal(0, 25 / 255, pixels.shape), 0, 1).astype(np.float32)
    noisy[hits] = 1.0
    assert prefill_impulses(noisy, threshold=0.3, most_noise=12) is noisy
    assert (prefill_impulses(noisy, threshold=0.3, most_noise=30) != noisy).any()
    assert (prefill_impulses(pixels, threshold=0.3, most_noise=12) != pixels).any()  # salt on a clean photo


def test_a_clipped_line_one_pixel_wide_and_a_small_highlight_stay_as_the_restore_steps_fill_has_it():
    pixels = np.full((16, 16, 3), 0.1, np.float32)
    pixels[12, 2:14] = 1.0  # a wire against the sky: each inner pixel has white on opposite sides
    pixels[2:11, 12] = 1.0  # and a vertical one
    pixels[7:9, 6:8] = 1.0  # a 2x2 catchlight
    pixels[3, 3] = 1.0  # a lone white pixel: salt or a hot pixel
    filled = prefill_impulses(pixels, threshold=0.3)
    changed = {
        (int(row), int(column)) for row, column in zip(*np.nonzero((filled != pixels).any(axis=-1)), strict=True)
    }
    # The lone pixel and the lines' free ends, which have a single white neighbour.
    assert changed == {(3, 3), (12, 2), (12, 13), (2, 12), (10, 12)}


def test_the_noise_reading_leaves_clipped_areas_out():
    """A photo two thirds clipped to black reads as noise-free if the flat black counts."""
    rng = np.random.default_rng(3)
    noisy = np.clip(0.5 + rng.normal(0, 20 / 255, (60, 60, 3)), 0.01, 0.99).astype(np.float32)
    noisy[:, :40] = 0.0
    noisy[rng.random((60, 60)) < 0.05] = 1.0  # salt all over
    assert prefill_impulses(noisy, threshold=0.3, most_noise=12) is noisy
    assert prefill_impulses(noisy, threshold=0.3, most_noise=30) is not noisy


def _per_photo(batch: torch.Tensor, settings: dict) -> torch.Tensor:
    photos = [prefill_impulses(image, **settings) for image in batch.permute(0, 2, 3, 1).numpy()]
    return torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2)


@pytest.mark.parametrize(
    "settings",
    [
        {"threshold": 0.3},
        {"threshold": 0.3, "least_share": 0.0005, "most_noise": 12},  # the shipped sidecar's
        {"threshold": 0.1, "most_same": 0, "least_neighbours": 5, "least_share": 0.01, "most_noise": 4},
        {"threshold": 0.3, "least_share": 0.0005, "most_noise": 12, "from_opposite": True},
    ],
)
def test_a_training_batch_is_filled_pixel_for_pixel_as_each_photo_would_be(settings):
    from denoisecli.noise import NoiseSettings
    from denoisecli.train import TrainConfig, corrupt_batch, noise_generator

    clean = torch.from_numpy(np.stack([smooth_rgb(32, 40, seed) for seed in range(24)])).permute(0, 3, 1, 2)
    noise = NoiseSettings(mix_weights=(1, 3, 4, 1, 2), gray_crops=0.3)  # many salt-and-pepper crops
    _, noisy = corrupt_batch(clean, TrainConfig(data_dirs=[], output_dir="", noise=noise), noise_generator(0, 1, "cpu"))
    noisy[3:6] = clean[3:6]  # clean photos with black and white of their own:
    noisy[3, :, 5:9, 5:9] = 1.0  # a clipped highlight,
    noisy[4, :, 10, :] = 0.0  # a black line one pixel wide,
    noisy[5, :, ::7, ::5] = 1.0  # white specks,
    noisy[6, :, 0, 0], noisy[6, :, -1, 5], noisy[7, :, 2, 3] = 1.0, 0.0, 0.0  # and corners and edges
    noisy[9, :, :12, :12] = 0.0  # a black area with salt in it, and a white one with pepper
    noisy[9, :, 3, 4] = noisy[9, :, 7, 8] = noisy[9, :, 20:30, 20:30] = 1.0
    noisy[9, :, 24, 25] = 0.0
    # A gray photo so noisy that its clipped pixels pass the share: left to the network (most_noise).
    noisy[8] = (0.6 + 0.25 * torch.randn(1, 32, 40, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    expected = _per_photo(noisy, settings)
    assert not torch.equal(expected, noisy)  # something is filled, so the comparison means something
    assert torch.equal(_prefill_dense(noisy, **settings), expected)  # what a GPU batch runs
    assert torch.equal(prefill_batch(noisy, settings), expected)
    gray = noisy[:, :1].contiguous()  # one channel: luma is the channel itself
    assert torch.equal(_prefill_dense(gray, **settings), _per_photo(gray, settings))


def test_a_batch_without_black_or_white_pixels_is_returned_as_it_is():
    batch = torch.full((2, 3, 8, 8), 0.5)
    assert prefill_batch(batch, {"threshold": 0.3}) is batch
    assert prefill_batch(batch, None) is batch
    assert _prefill_dense(batch, threshold=0.3) is batch


def test_salt_in_a_black_area_is_filled_black_only_when_told_to_fill_from_the_other_extreme():
    pixels = np.full((12, 12, 3), 0.5, np.float32)
    pixels[:6, :6] = 0.0  # a clipped shadow
    pixels[2, 3] = 1.0  # salt in it: all its neighbours black, none to fill from
    pixels[8, 8] = 1.0  # salt on gray, filled either way
    plain = prefill_impulses(pixels, threshold=0.3)
    np.testing.assert_array_equal(plain[2, 3], 1.0)
    np.testing.assert_allclose(plain[8, 8], 0.5)
    opposite = prefill_impulses(pixels, threshold=0.3, from_opposite=True)
    np.testing.assert_array_equal(opposite[2, 3], 0.0)
    np.testing.assert_allclose(opposite[8, 8], 0.5)  # enough gray neighbours: black ones not taken
    batch = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    assert torch.equal(
        _prefill_dense(batch, threshold=0.3, from_opposite=True)[0].permute(1, 2, 0), torch.from_numpy(opposite)
    )
