import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import smooth_rgb

from denoisecli.checkpoint import load_model
from denoisecli.errors import DenoiseError
from denoisecli.impulses import check_prefill_settings, prefill_impulses
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
