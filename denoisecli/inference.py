"""Photo in, photo out: tile -> colour in -> model -> chroma -> colour out -> blend -> write.

The whole pipeline runs per tile, so peak memory is set by the tile size plus three full-size
float arrays (input, blended output, blend weights), not by the network's activations on the
whole photo. Tiles overlap and are blended with linear ramps, so seams do not show.
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE, gray_model_path, load_model
from denoisecli.deblur import blur_to_undo, deblur, deblur_settings, luma_noise
from denoisecli.errors import DenoiseError
from denoisecli.imageio import DEFAULT_MAX_MEGAPIXELS, read_photo, write_photo
from denoisecli.impulses import prefill_impulses
from denoisecli.models import Autoencoder, coarse_decoders, fold_batch_norm
from denoisecli.pipeline import network_input, network_output_to_image

DEFAULT_TILE = 768  # measured: 768 beats 512 and 1024 on 1.5 and 6 MP photos (benchmarks/denoise_speed.py)
DEFAULT_OVERLAP = 64
MAX_TILE_WORKERS = 4  # tiles denoised side by side on a CPU: a bound on memory (``_tile_workers``)
ENSEMBLES = (1, 2, 4, 8)  # 1: the model once; 2: + mirrored; 4: + both flips; 8: + transposed
PRECISIONS = ("auto", "float32", "bfloat16")


def network_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype the network's convolutions run in (the rest of the pipeline is float32).

    ``auto`` is bfloat16 on CUDA and on CPUs with bfloat16 instructions (AVX512-BF16 or AMX),
    where oneDNN runs the network about 2.5x faster at no measured cost in PSNR (docs/RESULTS.md,
    sixteenth session); float32 elsewhere, where bfloat16 would be emulated.
    """
    if precision not in PRECISIONS:
        raise DenoiseError(f"the precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        fast = device.type == "cuda" or (device.type == "cpu" and cpu_has_bfloat16())
        return torch.bfloat16 if fast else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes in bfloat16 natively (PyTorch's own probes; private, so guarded)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def color_settings(sidecar: dict, strength: float = 1.0) -> tuple[dict, dict | None]:
    """The chroma and restore settings a sidecar gives the pipeline, defaults filled in.

    ``strength`` scales both restore strengths (``denoise --strength``); ``math.inf`` means no
    restore step at all (None), the smoothed output as it is.
    """
    if not strength >= 0:
        raise ValueError(f"strength must be 0 or more, got {strength}")
    color = sidecar.get("color", {})
    chroma = {**DEFAULT_CHROMA, **color.get("chroma", {})}
    if not math.isfinite(strength):
        return chroma, None
    restore = {**DEFAULT_RESTORE, **color.get("restore", {})}
    restore["strength"] *= strength
    restore["chroma_strength"] *= strength
    return chroma, restore


@dataclass(frozen=True)
class Denoiser:
    """A loaded model ready for inference, and the chroma settings its sidecar names."""

    model: Autoencoder
    chroma: dict
    restore: dict | None
    device: torch.device
    metadata: dict
    ensemble: int = 1
    deblur: dict | None = None  # the sidecar's deblur settings (``denoisecli.deblur``), or None
    dtype: torch.dtype = torch.float32  # the network's (``network_dtype``)
    # The model for one-channel photos, where the sidecar names one (``"gray_model"``): a gray
    # photo's noise is all in L, and a network trained on gray crops denoises it better
    # (docs/RESULTS.md, "A gray companion"). Colour photos never reach it.
    gray: Denoiser | None = None

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: torch.device,
        strength: float = 1.0,
        ensemble: int = 1,
        deblur: bool = True,
        precision: str = "float32",
    ) -> Denoiser:
        model, sidecar = load_model(path)
        gray, gray_path = None, gray_model_path(path, sidecar)
        if gray_path is not None:
            gray_model, gray_sidecar = load_model(gray_path)
            if gray_model_path(gray_path, gray_sidecar) is not None:
                raise DenoiseError(f"{gray_path}: a gray companion cannot name a companion of its own")
            gray = cls.from_model(gray_model, device, gray_sidecar, strength, ensemble, deblur, precision)
        return cls.from_model(model, device, sidecar, strength, ensemble, deblur, precision, gray)

    @classmethod
    def from_model(
        cls,
        model: Autoencoder,
        device: torch.device,
        metadata: dict | None = None,
        strength: float = 1.0,
        ensemble: int = 1,
        deblur: bool = True,
        precision: str = "float32",
        gray: Denoiser | None = None,
    ) -> Denoiser:
        """Fold batch norm into the convolutions (and, in float32 on CPU, ``coarse_decoders``) and
        move to ``device`` in channels_last.

        ``strength`` scales how much of the removed detail counts as noise (``detail``): 1 is the
        sidecar's setting, larger smooths more, ``math.inf`` gives the smoothed output as it is.
        ``ensemble`` (1, 2, 4 or 8) averages the network's output over that many flips and
        transposes of the input: that many times the network's time, for a cleaner L.
        ``deblur`` False turns off the sidecar's deblurring of evenly blurred photos
        (``denoisecli.deblur``); so does ``strength`` inf, which means the network's output alone.
        ``precision`` sets the network's dtype (``network_dtype``); float32 here so library results
        do not depend on the CPU, ``auto`` in the command line.
        """
        if ensemble not in ENSEMBLES:
            raise DenoiseError(f"the ensemble must be one of {', '.join(map(str, ENSEMBLES))}, got {ensemble}")
        metadata = metadata or {}
        chroma, restore = color_settings(metadata, strength)
        deblurring = deblur_settings(metadata) if deblur and restore is not None else None
        model = fold_batch_norm(model.eval()).to(device)
        dtype = network_dtype(precision, device)
        if dtype == torch.float32 and device.type == "cpu":
            # The decoders' upsampled inputs convolved at the coarse resolution: 6% of the whole
            # pipeline's time in float32 on CPU, 2% slower in bfloat16 (docs/BENCHMARKS.md).
            model = coarse_decoders(model)
        model = model.to(memory_format=torch.channels_last)
        return cls(model, chroma, restore, device, metadata, ensemble, deblurring, dtype, gray)

    @torch.inference_mode()
    def tensor(self, image: torch.Tensor, restore: dict | None = None) -> torch.Tensor:
        """N x C x H x W in [0, 1] (C = 1 or 3) -> the same, denoised; ``restore`` in place of the
        sidecar's restore settings (``photo_restore``'s, for the photo these pixels are from)."""
        if self.gray is not None and image.shape[1] == 1:
            return self.gray.tensor(image, restore)
        image = image.to(self.device, torch.float32)
        lab, network_in = network_input(image, self.model.config.chroma_input)
        output = 0.0
        # No autocast object at all in float32: not every device type (MPS in older PyTorch) has one.
        low_precision = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype) if low_precision else contextlib.nullcontext():
            for which in range(self.ensemble):
                view = _dihedral(network_in, which).contiguous(memory_format=torch.channels_last)
                output = output + _undo_dihedral(self.model(view).float(), which)
        rgb = image if image.shape[1] == 3 else None
        return network_output_to_image(lab, output / self.ensemble, self.chroma, restore or self.restore, rgb)

    def pixels(self, pixels: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
        """HxWxC float32 in [0, 1] -> the same, denoised tile by tile (tiles at most ``tile`` px).

        Where the sidecar says so, a noise-free input blurred evenly all over is deblurred as a
        whole instead (``denoisecli.deblur``): it has no noise to remove."""
        return self.restore_pixels(pixels, tile, overlap)[0]

    def restore_pixels(
        self, pixels: np.ndarray, tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP
    ) -> tuple[np.ndarray, float]:
        """``pixels``' output, and the blur (px) it undid instead of denoising (0: denoised)."""
        if self.gray is not None and pixels.shape[-1] == 1:
            return self.gray.restore_pixels(pixels, tile, overlap)
        per_photo_guard = isinstance(self.restore and self.restore.get("sharpening_guard"), dict)
        noise = luma_noise(pixels) if per_photo_guard else None  # read once, for both uses
        blur = blur_to_undo(pixels, self.deblur, noise) if self.deblur else 0.0
        if blur:
            return deblur(pixels.astype(np.float32, copy=True), blur, self.deblur["noise_ratio"]), blur
        prefill = self.restore.get("prefill_impulses") if self.restore else None
        if prefill:
            # Before the tiles, so tiles agree, and after the deblurring check, which reads the photo as it came.
            pixels = prefill_impulses(pixels, **prefill)
        return self._tiles(pixels, tile, overlap, self.photo_restore(pixels, noise)), 0.0

    def photo_restore(self, pixels: np.ndarray, noise: float | None = None) -> dict | None:
        """The restore settings for this whole photo (H x W x C): the sidecar's, with a per-photo
        ``sharpening_guard`` rule (``{"max_noise": N}``) resolved. The guard keeps a model's
        sharpening of a blurred photo; a blurred photo reads almost no fine-scale luma noise, so
        the guard stays on unless the photo reads more than N (``deblur.luma_noise``, or
        ``noise`` where already read; NaN, a photo too small to read, keeps it on). Per photo,
        not per tile, so tiles agree."""
        guard = self.restore.get("sharpening_guard") if self.restore else None
        if not isinstance(guard, dict):
            return self.restore
        noise = luma_noise(pixels) if noise is None else noise
        return {**self.restore, "sharpening_guard": not noise > float(guard["max_noise"])}

    def _tiles(self, pixels: np.ndarray, tile: int, overlap: int, restore: dict | None = None) -> np.ndarray:
        height, width, channels = pixels.shape
        if height <= tile and width <= tile:
            return self._run(pixels, restore)
        if overlap * 2 >= tile:
            raise ValueError(f"overlap {overlap} must be less than half the tile {tile}")
        output = np.zeros_like(pixels, dtype=np.float32)
        weights = np.zeros((height, width, 1), dtype=np.float32)
        multiple = self.model.config.multiple
        tile_height, tops = _tile_layout(height, tile, overlap, multiple)
        tile_width, lefts = _tile_layout(width, tile, overlap, multiple)
        places = [(top, left) for top in tops for left in lefts]

        def run(place: tuple[int, int]) -> np.ndarray:
            top, left = place
            return self._run(pixels[top : top + tile_height, left : left + tile_width], restore)

        with _tile_workers(len(places), self.device) as workers:
            # In the tiles' order whatever the workers: the blend adds up the same, bit for bit.
            outputs = workers.map(run, places) if workers else map(run, places)
            for (top, left), denoised in zip(places, outputs, strict=True):
                ramp = _blend_window(denoised.shape[0], denoised.shape[1], overlap, top, left, height, width)
                output[top : top + tile_height, left : left + tile_width] += denoised * ramp
                weights[top : top + tile_height, left : left + tile_width] += ramp
        output /= weights
        return output

    def _run(self, pixels: np.ndarray, restore: dict | None = None) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0)
        return self.tensor(tensor, restore)[0].permute(1, 2, 0).cpu().numpy()


@contextlib.contextmanager
def _tile_workers(tiles: int, device: torch.device):
    """A pool of threads that denoise ``tiles`` tiles side by side on a CPU, PyTorch's and
    OpenCV's threads shared out among them for as long as it is open; None (one tile at a time)
    for a single tile, a single thread, or a device other than the CPU.

    A tile per thread, each computing on one thread (``threads // workers``), scales better
    than every thread on one tile: the network's small convolutions and the post steps' window
    filters split poorly across threads. On the 2-core development CPU the same outputs took
    0.93-0.96x the time on three photos of 2-8 MP and 0.86x on a 50 MP one (docs/BENCHMARKS.md,
    thirtieth session). Each tile in flight holds its own working set (about 280 MB at the
    default 768 px tile), so at most ``MAX_TILE_WORKERS`` run at once, sharing the threads.
    """
    threads, opencv_threads = torch.get_num_threads(), cv2.getNumThreads()
    count = min(tiles, threads, MAX_TILE_WORKERS)
    # The thread counts are the process's: two photos splitting them at once (a library caller
    # with threads of its own) could hand back each other's reduced counts, so one at a time.
    if device.type != "cpu" or count < 2 or not _THREAD_SPLIT.acquire(blocking=False):
        yield None
        return
    torch.set_num_threads(threads // count)
    cv2.setNumThreads(max(1, opencv_threads // count))
    workers = ThreadPoolExecutor(count, thread_name_prefix="denoise-tile")
    try:
        yield workers
    except BaseException:
        # Ctrl-C or an error: the tiles not yet started are dropped, not waited for.
        workers.shutdown(cancel_futures=True)
        raise
    finally:
        workers.shutdown()
        torch.set_num_threads(threads)
        cv2.setNumThreads(opencv_threads)
        _THREAD_SPLIT.release()


_THREAD_SPLIT = threading.Lock()  # held while a photo's tiles have the process's threads shared out


def _dihedral(image: torch.Tensor, which: int) -> torch.Tensor:
    """One of the 8 flips and transposes of an N x C x H x W tensor: bit 4 transposes, 1 mirrors
    left-right, 2 flips top-bottom. The network is nearly but not exactly equivariant to them,
    so averaging its outputs over them cancels part of its error (self-ensemble)."""
    if which & 4:
        image = image.transpose(-2, -1)
    if which & 1:
        image = image.flip(-1)
    if which & 2:
        image = image.flip(-2)
    return image


def _undo_dihedral(image: torch.Tensor, which: int) -> torch.Tensor:
    """The inverse of ``_dihedral(image, which)``: the same steps in reverse order."""
    if which & 2:
        image = image.flip(-2)
    if which & 1:
        image = image.flip(-1)
    if which & 4:
        image = image.transpose(-2, -1)
    return image


def _tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """(tile size, starts) covering ``length`` with the fewest tiles of at most ``tile``.

    The tiles are shrunk to the smallest size that still covers the length with ``overlap``
    between neighbours: a fixed size would compute up to twice the pixels (1000 px in 512 px
    tiles is three tiles, 1,536 px of work; shrunk it is three of 376). The size is then rounded
    up to the model's ``multiple`` (while it fits the tile) so tiles need no padding.
    """
    if length <= tile:
        return length, [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    size = min(tile, -(-size // multiple) * multiple)
    starts = [min(index * (size - overlap), length - size) for index in range(count)]
    return size, starts


def _blend_window(height: int, width: int, overlap: int, top: int, left: int, full_height: int, full_width: int):
    """Weights (h x w x 1) ramping up over ``overlap`` pixels on every side that meets a neighbour."""

    def ramp(length: int, at_start: bool, at_end: bool) -> np.ndarray:
        weights = np.ones(length, dtype=np.float32)
        rise = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            weights[:overlap] = np.minimum(weights[:overlap], rise)
        if not at_end:
            weights[-overlap:] = np.minimum(weights[-overlap:], rise[::-1])
        return weights

    rows = ramp(height, top == 0, top + height >= full_height)
    columns = ramp(width, left == 0, left + width >= full_width)
    return (rows[:, None] * columns[None, :])[:, :, None]


def denoise_file(
    denoiser: Denoiser,
    source: Path,
    destination: Path,
    tile: int = DEFAULT_TILE,
    bit_depth: int | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> tuple[float, float]:
    """Denoise one file into ``destination`` (format by extension); return its megapixels and
    the blur (px) undone instead of denoising (0 where it was denoised)."""
    photo = read_photo(source, max_megapixels)
    overlap = min(DEFAULT_OVERLAP, tile // 4)
    pixels, blur = denoiser.restore_pixels(photo.pixels, tile, overlap)
    write_photo(destination, photo.with_pixels(pixels), bit_depth)
    return photo.megapixels, blur
