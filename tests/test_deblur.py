import math

import cv2
import numpy as np
import pytest
import torch

from denoisecli.deblur import DEFAULT_DEBLUR, blur_to_undo, deblur, deblur_settings, measure_blur, wiener_kernel
from denoisecli.errors import DenoiseError
from denoisecli.inference import Denoiser


def _shapes(size: int = 192) -> np.ndarray:
    """A sharp gray scene: rectangles and discs of several levels, edges in both directions."""
    image = np.full((size, size), 0.3, np.float32)
    rng = np.random.default_rng(0)
    for _ in range(14):
        top, left = rng.integers(0, size - 40, 2)
        height, width = rng.integers(12, 40, 2)
        image[top : top + height, left : left + width] = rng.uniform(0.1, 0.9)
    for _ in range(6):
        centre = tuple(int(v) for v in rng.integers(20, size - 20, 2))
        cv2.circle(image, centre, int(rng.integers(6, 18)), float(rng.uniform(0.1, 0.9)), -1)
    return image


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    soft = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return (np.round(soft * 255) / 255).astype(np.float32)  # an 8-bit photo


@pytest.mark.parametrize("sigma", [1.5, 2.5])
def test_the_measure_reads_a_gaussian_blur_at_about_its_width(sigma):
    assert measure_blur(_blurred(_shapes(), sigma)) == pytest.approx(sigma, rel=0.2)


def test_a_sharp_photo_measures_below_the_threshold():
    assert measure_blur(_shapes()) < 0.9 < DEFAULT_DEBLUR["threshold"]


def test_a_blur_along_one_direction_only_is_left_alone():
    # motion-like: only horizontal smearing; the vertical edges' profiles stay sharp
    smeared = cv2.GaussianBlur(_shapes(), (0, 0), sigmaX=2.5, sigmaY=0.01, borderType=cv2.BORDER_REFLECT)
    assert blur_to_undo(smeared[..., None]) == 0.0


def test_a_flat_image_has_no_edges_to_measure():
    assert math.isnan(measure_blur(np.full((64, 64), 0.5, np.float32)))
    assert blur_to_undo(np.full((64, 64, 3), 0.5, np.float32)) == 0.0


def test_noise_or_impulses_keep_a_blurred_photo_from_being_deblurred():
    soft = _blurred(_shapes(), 2.0)
    rng = np.random.default_rng(1)
    noisy = np.clip(soft + rng.normal(0, 2 / 255, soft.shape), 0, 1).astype(np.float32)
    salted = soft.copy()
    salted[rng.random(soft.shape) < 0.05] = 1.0
    assert blur_to_undo(soft[..., None]) == pytest.approx(2.0, rel=0.2)
    assert blur_to_undo(noisy[..., None]) == 0.0
    assert blur_to_undo(salted[..., None]) == 0.0


def test_noise_the_blur_smoothed_is_seen_in_the_flat_parts_and_refused():
    rng = np.random.default_rng(2)
    noisy_first = np.clip(_shapes(256) + rng.normal(0, 25 / 255, (256, 256)), 0, 1).astype(np.float32)
    smoothed = _blurred(noisy_first, 1.5)[..., None]
    assert blur_to_undo(smoothed, {**DEFAULT_DEBLUR, "max_smoothed_noise": 1e9}) > 0  # the first check alone passes it
    assert blur_to_undo(smoothed) == 0.0
    assert blur_to_undo(_blurred(_shapes(256), 1.5)[..., None]) > 0  # noise-free: still deblurred


def test_the_wiener_filter_undoes_most_of_a_known_blur_and_keeps_flat_levels():
    sharp = _shapes()
    soft = _blurred(sharp, 1.5)
    restored = deblur(np.repeat(soft[..., None], 3, axis=2), 1.5)
    assert _psnr(restored[..., 0], sharp) > _psnr(soft, sharp) + 2
    assert wiener_kernel(1.5, 0.01).sum() == pytest.approx(1.0, abs=1e-5)
    flat = np.full((40, 40, 1), 0.42, np.float32)
    assert np.allclose(deblur(flat, 2.0), 0.42, atol=1e-5)


def test_settings_come_from_the_sidecar_and_only_there():
    assert deblur_settings({}) is None
    assert deblur_settings({"deblur": {"threshold": 1.3}})["threshold"] == 1.3
    with pytest.raises(DenoiseError, match="unknown deblur settings in the sidecar: speed"):
        deblur_settings({"deblur": {"speed": 1}})


def test_the_denoiser_deblurs_only_where_the_sidecar_and_the_caller_allow(tiny_model_path):
    from denoisecli.checkpoint import load_model

    soft = np.repeat(_blurred(_shapes(), 1.5)[..., None], 3, axis=2)
    model, sidecar = load_model(tiny_model_path)
    cpu = torch.device("cpu")
    with_deblur = Denoiser.from_model(model, cpu, {**sidecar, "deblur": {}})
    assert np.array_equal(with_deblur.pixels(soft), deblur(soft.copy(), blur_to_undo(soft)))
    model, _ = load_model(tiny_model_path)
    turned_off = Denoiser.from_model(model, cpu, {**sidecar, "deblur": {}}, deblur=False)
    model, _ = load_model(tiny_model_path)
    raw = Denoiser.from_model(model, cpu, {**sidecar, "deblur": {}}, strength=math.inf)
    model, _ = load_model(tiny_model_path)
    no_key = Denoiser.from_model(model, cpu, sidecar)
    assert turned_off.deblur is None and raw.deblur is None and no_key.deblur is None
    assert not np.array_equal(turned_off.pixels(soft), with_deblur.pixels(soft))
