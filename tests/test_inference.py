import math
import time

import numpy as np
import pytest
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.inference import _THREAD_SPLIT, Denoiser, _tile_layout, color_settings
from denoisecli.metrics import psnr
from denoisecli.pipeline import network_input, restored_lightness


@pytest.fixture(scope="module")
def denoiser(tiny_model_path):
    return Denoiser.load(tiny_model_path, torch.device("cpu"))


@pytest.mark.parametrize(
    ("height", "width", "channels"), [(31, 45, 3), (17, 64, 1), (5, 7, 3), (1, 1, 3), (2, 2, 3), (7, 1, 3), (2, 5, 1)]
)
def test_odd_sizes_come_back_at_their_size(denoiser, height, width, channels):
    pixels = np.random.default_rng(0).random((height, width, channels), dtype=np.float32)
    result = denoiser.pixels(pixels)
    assert result.shape == pixels.shape and result.dtype == np.float32
    assert 0 <= result.min() and result.max() <= 1


def test_tiled_equals_untiled_within_tolerance(denoiser, tiny_model_path):
    from conftest import smooth_rgb

    clean = smooth_rgb(300, 340, seed=5)
    noisy = np.clip(clean + np.random.default_rng(1).normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    as_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731

    def tiling_gap(model: Denoiser) -> float:
        whole = psnr(as_tensor(model.pixels(noisy, tile=1024)), as_tensor(clean)).item()
        return abs(whole - psnr(as_tensor(model.pixels(noisy, tile=128, overlap=32)), as_tensor(clean)).item())

    # The network and the blending alone: tiles must add no seams (this tiny model: 0.010 dB).
    assert tiling_gap(Denoiser.load(tiny_model_path, torch.device("cpu"), strength=math.inf)) < 0.02
    # The whole pipeline is not equal: each tile estimates its own noise level for the restore
    # step, so tiles differ a little by design (this tiny model: 0.06 dB at 128 px tiles; the
    # shipped skip on three CBSD68 photos at sigma 25: -0.10 to +0.17 dB at 128 px tiles, +0.02 to
    # +0.15 at 256 px).
    assert tiling_gap(denoiser) < 0.1


def test_tiles_on_parallel_threads_give_the_same_output_and_hand_the_threads_back(denoiser, monkeypatch):
    import concurrent.futures

    import cv2
    from conftest import smooth_rgb

    pools = []

    class RecordedPool(concurrent.futures.ThreadPoolExecutor):
        def __init__(self, workers, **kwargs):
            pools.append((workers, torch.get_num_threads()))
            super().__init__(workers, **kwargs)

    monkeypatch.setattr("denoisecli.inference.ThreadPoolExecutor", RecordedPool)

    noisy = np.clip(smooth_rgb(150, 170, seed=6) + np.random.default_rng(2).normal(0, 0.1, (150, 170, 3)), 0, 1)
    noisy = noisy.astype(np.float32)
    threads, opencv_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        torch.set_num_threads(1)
        one_at_a_time = denoiser.pixels(noisy, tile=96, overlap=16)  # 4 tiles, one thread: no pool
        assert pools == []
        torch.set_num_threads(3)
        cv2.setNumThreads(3)
        side_by_side = denoiser.pixels(noisy, tile=96, overlap=16)  # 3 workers, one thread each
        assert pools == [(3, 1)]  # three workers, PyTorch on one thread each while they ran
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (3, 3)  # handed back after the photo
        with _THREAD_SPLIT:  # another photo has the threads shared out: this one runs its tiles in turn
            np.testing.assert_array_equal(denoiser.pixels(noisy, tile=96, overlap=16), one_at_a_time)
        assert len(pools) == 1
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(opencv_threads)
    np.testing.assert_array_equal(side_by_side, one_at_a_time)


def test_a_tile_that_fails_stops_the_photo_and_hands_the_threads_back(denoiser, monkeypatch):
    started = []

    def failing(self, pixels, restore=None):
        started.append(pixels.shape)
        time.sleep(0.02)  # a tile takes a while: the photo stops long before the 16th would start
        raise RuntimeError("tile failed")

    monkeypatch.setattr(Denoiser, "_run", failing)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with pytest.raises(RuntimeError, match="tile failed"):
            denoiser.pixels(np.zeros((300, 300, 3), np.float32), tile=96, overlap=16)  # 16 tiles
        assert torch.get_num_threads() == 2 and not _THREAD_SPLIT.locked()
    finally:
        torch.set_num_threads(threads)
    assert len(started) < 16  # the tiles not yet started were dropped


@pytest.mark.parametrize("length", [100, 257, 1000, 1001, 4321])
def test_tile_layout_covers_everything_with_the_fewest_smallest_tiles(length):
    size, starts = _tile_layout(length, 256, 64)
    assert size <= 256 and starts[0] == 0 and starts[-1] + size == length
    assert all(b - a <= size - 64 for a, b in zip(starts, starts[1:], strict=False))  # neighbours overlap
    assert (len(starts) - 1) * (256 - 64) + 64 < length  # one tile fewer would not cover the length
    assert len(starts) * size - (len(starts) - 1) * 64 < length + len(starts)  # shrunk to fit


def test_bad_overlap_is_rejected(denoiser):
    with pytest.raises(ValueError, match="overlap"):
        denoiser.pixels(np.zeros((300, 300, 3), np.float32), tile=100, overlap=60)


def test_each_flip_of_the_ensemble_is_undone_exactly():
    from denoisecli.inference import _dihedral, _undo_dihedral

    image = torch.arange(2 * 3 * 5, dtype=torch.float32).reshape(1, 2, 3, 5)
    views = [_dihedral(image, which) for which in range(8)]
    assert all(torch.equal(_undo_dihedral(view, which), image) for which, view in enumerate(views))
    assert len({tuple(view.flatten().tolist()) for view in views}) == 8  # eight different views


def test_an_ensemble_of_eight_makes_the_model_blind_to_flips(tiny_model_path):
    from conftest import smooth_rgb

    pixels = np.clip(smooth_rgb(64, 64, seed=2) + np.random.default_rng(3).normal(0, 0.1, (64, 64, 3)), 0, 1)
    pixels = pixels.astype(np.float32)
    for ensemble, expect_equal in ((1, False), (8, True)):
        model = Denoiser.load(tiny_model_path, torch.device("cpu"), strength=math.inf, ensemble=ensemble)
        mirrored = model.pixels(np.ascontiguousarray(pixels[:, ::-1]))[:, ::-1]
        transposed = model.pixels(np.ascontiguousarray(pixels.transpose(1, 0, 2))).transpose(1, 0, 2)
        straight = model.pixels(pixels)
        gaps = [np.abs(straight - other).max() for other in (mirrored, transposed)]
        assert all(gap < 1e-5 for gap in gaps) == expect_equal, (ensemble, gaps)


def test_an_ensemble_size_other_than_1_2_4_8_is_refused(tiny_model_path):
    from denoisecli.errors import DenoiseError

    with pytest.raises(DenoiseError, match="ensemble must be one of 1, 2, 4, 8"):
        Denoiser.load(tiny_model_path, torch.device("cpu"), ensemble=3)


def test_the_precision_names_the_networks_dtype():
    from denoisecli.errors import DenoiseError
    from denoisecli.inference import cpu_has_bfloat16, network_dtype

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert network_dtype("float32", cuda) == torch.float32
    assert network_dtype("bfloat16", cpu) == torch.bfloat16
    assert network_dtype("auto", cuda) == torch.bfloat16
    assert network_dtype("auto", torch.device("mps")) == torch.float32
    assert network_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_bfloat16() else torch.float32)
    with pytest.raises(DenoiseError, match="precision must be one of auto, float32, bfloat16"):
        network_dtype("half", cpu)


def test_a_bfloat16_network_keeps_the_stem_in_float32_and_stays_close(tiny_model_path):
    from conftest import smooth_rgb

    pixels = np.clip(smooth_rgb(48, 64, seed=4) + np.random.default_rng(5).normal(0, 0.1, (48, 64, 3)), 0, 1)
    pixels = pixels.astype(np.float32)
    full = Denoiser.load(tiny_model_path, torch.device("cpu"), strength=math.inf)
    half = Denoiser.load(tiny_model_path, torch.device("cpu"), strength=math.inf, precision="bfloat16")
    assert (full.dtype, half.dtype) == (torch.float32, torch.bfloat16)
    stem_outputs = []
    handle = half.model.stem.register_forward_hook(lambda module, args, output: stem_outputs.append(args[0].dtype))
    gap = np.abs(full.pixels(pixels) - half.pixels(pixels)).max()
    handle.remove()
    assert stem_outputs == [torch.float32]  # the pixels themselves are not rounded to 8 bits of mantissa
    assert 0 < gap < 0.02  # bfloat16 did run, and the rest of the network takes it


def test_the_coarse_decoders_serve_float32_on_cpu_only(tiny_model_path):
    from denoisecli.models.blocks import CoarseDecoderBlock, DecoderBlock

    for precision, kind in (("float32", CoarseDecoderBlock), ("bfloat16", DecoderBlock)):
        model = Denoiser.load(tiny_model_path, torch.device("cpu"), precision=precision).model
        assert all(type(block) is kind for block in model.decoders)  # bfloat16 is faster without them


def _with_sidecar_key(source, target, key, value):
    import json
    import shutil

    shutil.copy(source, target)
    sidecar = json.loads(source.with_suffix(".json").read_text())
    target.with_suffix(".json").write_text(json.dumps({**sidecar, key: value}))
    return target


def test_a_gray_companion_denoises_one_channel_photos_and_only_those(tiny_model_path, tmp_path):
    from denoisecli.checkpoint import resolve_model_path

    shallow = resolve_model_path("shallow")
    companion = _with_sidecar_key(shallow, tmp_path / "companion.safetensors", "note", "gray")
    main = _with_sidecar_key(tiny_model_path, tmp_path / "main.safetensors", "gray_model", "companion.safetensors")
    paired, alone, other = (Denoiser.load(path, torch.device("cpu")) for path in (main, tiny_model_path, companion))
    rng = np.random.default_rng(3)
    gray = rng.random((24, 32, 1), dtype=np.float32)
    colour = rng.random((24, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(paired.pixels(gray), other.pixels(gray))
    np.testing.assert_array_equal(paired.pixels(colour), alone.pixels(colour))
    assert not np.array_equal(paired.pixels(gray), alone.pixels(gray))
    as_tensor = torch.from_numpy(gray).permute(2, 0, 1)[None]
    torch.testing.assert_close(paired.tensor(as_tensor), other.tensor(as_tensor), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["../companion.safetensors", "companion.pt", 3])
def test_a_gray_companion_must_be_a_weights_file_beside_the_sidecar(tiny_model_path, tmp_path, name):
    from denoisecli.errors import DenoiseError

    main = _with_sidecar_key(tiny_model_path, tmp_path / "main.safetensors", "gray_model", name)
    with pytest.raises(DenoiseError, match="gray_model must name a .safetensors file beside it"):
        Denoiser.load(main, torch.device("cpu"))


def test_a_gray_companion_cannot_name_its_own(tiny_model_path, tmp_path):
    from denoisecli.errors import DenoiseError

    _with_sidecar_key(tiny_model_path, tmp_path / "second.safetensors", "gray_model", "main.safetensors")
    main = _with_sidecar_key(tiny_model_path, tmp_path / "main.safetensors", "gray_model", "second.safetensors")
    with pytest.raises(DenoiseError, match="cannot name a companion of its own"):
        Denoiser.load(main, torch.device("cpu"))


def test_the_restored_lightness_trains_the_network_on_a_batch_with_a_noise_free_image():
    # train --restore-loss: the L that denoise writes, differentiable in the network's output.
    model, sidecar = load_model(resolve_model_path("skip"))
    _, restore = color_settings(sidecar)
    generator = torch.Generator().manual_seed(2)
    clean = torch.rand(2, 3, 40, 48, generator=generator).clamp(0.1, 0.9)
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=generator)).clamp(0, 1)
    noisy[1] = clean[1]  # reads no noise: its L correction is none, not 0 / 0
    lab, network_in = network_input(noisy, model.config.chroma_input)
    output = model(network_in)
    restored = restored_lightness(lab, output, restore, noisy).output
    assert torch.isfinite(restored).all() and not torch.allclose(restored, output)
    restored.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
