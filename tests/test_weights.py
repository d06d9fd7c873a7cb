"""Golden outputs of the shipped weights: each loads strictly and reproduces its recorded output."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from golden_input import golden_output

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.models import VARIANTS

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = json.loads((ROOT / "tests" / "golden.json").read_text())


def test_every_variant_ships_weights_and_a_golden_record():
    shipped = sorted(path.stem for path in (ROOT / "weights").glob("*.safetensors"))
    assert shipped == sorted(VARIANTS) == sorted(GOLDEN)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_shipped_weights_reproduce_their_golden_output(variant):
    path = resolve_model_path(variant)
    recorded = GOLDEN[variant]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == recorded["sha256"], "weights changed: run scripts/update_golden.py and review the diff"
    model, sidecar = load_model(path)  # strict: every tensor present, no extras
    assert sidecar["variant"] == variant and model.config.to_dict() == sidecar["config"]
    assert path.stat().st_size < 10_000_000  # small enough for git
    np.testing.assert_allclose(golden_output(path), recorded["output"], atol=2e-4)


@pytest.mark.parametrize("path", sorted((ROOT / "weights" / "candidates").glob("*.safetensors")), ids=lambda p: p.stem)
def test_candidate_weights_load_strictly_and_denoise(path):
    model, sidecar = load_model(path)
    assert model.config.to_dict() == sidecar["config"] and path.stat().st_size < 10_000_000
    output = np.asarray(golden_output(path))
    assert np.isfinite(output).all() and 0 <= output.min() and output.max() <= 1


def test_the_default_gives_back_more_detail_on_a_nearly_clean_photo_than_a_constant_strength():
    import copy

    import torch
    from conftest import smooth_rgb

    from denoisecli.inference import Denoiser
    from denoisecli.metrics import psnr

    model, sidecar = load_model(resolve_model_path("skip"))
    assert sidecar["color"]["restore"]["strength_by_noise"], "the default ships a noise-following strength"
    constant = copy.deepcopy(sidecar)
    del constant["color"]["restore"]["strength_by_noise"]
    # Fine texture under faint noise (sigma 2 of 255: estimated L noise about 0.6, multiplier about 0.6).
    clean = smooth_rgb(48, 64, seed=7) + 0.08 * np.sin(np.arange(64) * np.pi / 4)[None, :, None]
    clean = np.clip(clean, 0, 1).astype(np.float32)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 2 / 255, clean.shape), 0, 1).astype(np.float32)
    cpu = torch.device("cpu")
    with torch.no_grad():
        scheduled = Denoiser.from_model(model, cpu, sidecar).pixels(noisy)
        fixed = Denoiser.from_model(copy.deepcopy(model), cpu, constant).pixels(noisy)

    def score(pixels: np.ndarray) -> float:
        return psnr(torch.from_numpy(pixels)[None], torch.from_numpy(clean)[None]).item()

    assert score(scheduled) > score(fixed) + 0.5


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_shipped_impulse_fill_leaves_small_highlights_and_thin_lines_alone(variant):
    """A star or a catchlight of 2x2 clipped pixels, or a clipped line one pixel wide (a wire
    against the sky, a specular edge), is detail, not salt: a sidecar whose fill would take it
    (``most_untrusted`` 4 takes the 2x2 block) erases it from every clean photo."""
    import torch

    from denoisecli.detail import isolated_impulses, trusted_pixels
    from denoisecli.inference import color_settings

    _, restore = color_settings(load_model(resolve_model_path(variant))[1])
    sky = -0.8 + 0.01 * torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    sky[..., 7:9, 7:9] = 1.0  # the highlight
    sky[..., 12, 2:14] = 1.0  # the line
    sky[..., 3, 3] = 1.0  # a lone clipped pixel: a hot pixel or salt, which the fill may take
    smoothed = torch.full_like(sky, -0.8)  # what a denoiser that removes all three would output
    sigma = torch.tensor([0.01])
    trusted = trusted_pixels(sky, sky - smoothed, sigma, restore["impulse_threshold"])
    threshold, most_untrusted = restore["impulse_threshold"], restore.get("most_untrusted", 2)
    impulses = isolated_impulses(sky, trusted, sigma, threshold, most_untrusted)
    taken = {(int(row), int(column)) for row, column in zip(impulses.row, impulses.column, strict=True)}
    # The line's two end pixels have only one clipped neighbour each, so they count as isolated.
    assert taken == {(3, 3), (12, 2), (12, 13)}


def test_the_default_deblurs_an_evenly_blurred_noise_free_photo_and_nothing_else():
    import torch
    from test_deblur import _blurred, _psnr, _shapes

    from denoisecli.inference import Denoiser

    denoiser = Denoiser.load(resolve_model_path("skip"), torch.device("cpu"))
    assert denoiser.deblur is not None
    sharp = np.repeat(_shapes()[..., None], 3, axis=2)
    soft = np.repeat(_blurred(_shapes(), 1.5)[..., None], 3, axis=2)
    noisy = np.clip(soft + np.random.default_rng(0).normal(0, 10 / 255, soft.shape), 0, 1).astype(np.float32)
    assert _psnr(denoiser.pixels(soft), sharp) > _psnr(soft, sharp) + 2
    plain = Denoiser.load(resolve_model_path("skip"), torch.device("cpu"), deblur=False)
    assert np.array_equal(denoiser.pixels(noisy), plain.pixels(noisy))
    assert np.array_equal(denoiser.pixels(sharp), plain.pixels(sharp))
