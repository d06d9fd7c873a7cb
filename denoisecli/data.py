"""Folders of clean photos -> a deterministic train/validation/test split and random crops.

Crop ``i`` of a run is a pure function of (seed, i): which photo, where, and which of the eight
flips/rotations. That is what lets ``--resume`` continue with exactly the batches an
uninterrupted run would have seen, and lets ranks share the stream by index.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from denoisecli.errors import DenoiseError
from denoisecli.imageio import find_images, read_photo

SPLITS = ("train", "validation", "test")


def find_training_photos(folders: list[str | Path]) -> list[Path]:
    for folder in folders:
        if not Path(folder).is_dir():
            raise DenoiseError(f"{folder}: not a folder of photos")
    paths = [path for path, _ in find_images(folders, recursive=True)]
    if not paths:
        raise DenoiseError(f"no images found in {', '.join(map(str, folders))}")
    return paths


def split_by_name(paths: list[Path], validation_fraction: float, test_fraction: float) -> dict[str, list[Path]]:
    """Assign each photo by a hash of its file name, so adding photos never moves old ones."""
    if validation_fraction < 0 or test_fraction < 0 or validation_fraction + test_fraction >= 1:
        raise DenoiseError("validation and test fractions must be >= 0 and sum to less than 1")
    split: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for path in paths:
        digest = hashlib.sha256(path.name.encode()).digest()
        position = int.from_bytes(digest[:8], "big") / 2**64
        if position < test_fraction:
            split["test"].append(path)
        elif position < test_fraction + validation_fraction:
            split["validation"].append(path)
        else:
            split["train"].append(path)
    return split


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header, without decoding, after EXIF rotation."""
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            width, height = height, width
    return width, height


def usable_photos(paths: list[Path], crop_size: int) -> tuple[list[Path], list[Path]]:
    """Split ``paths`` into those at least ``crop_size`` on both sides and those smaller."""
    usable, small = [], []
    for path in paths:
        (usable if min(image_size(path)) >= crop_size else small).append(path)
    return usable, small


def load_rgb(path: Path) -> np.ndarray:
    """int16 3xHxW (planar): the 0-65535 scale shifted down by 32768, exact for 8- and 16-bit photos.

    Crops of it are cheap copies: no float conversion in the workers (``to_unit`` does that on
    the device), and planar rows keep rotated copies cache-friendly. int16 rather than uint16
    because every backend converts int16 to float; uint16 support is partial on some.
    """
    pixels = read_photo(path).pixels
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    shifted = np.round(pixels * 65535.0) - 32768.0
    return np.ascontiguousarray(shifted.astype(np.int16).transpose(2, 0, 1))


def to_unit(crops: torch.Tensor) -> torch.Tensor:
    """int16 crops from ``RandomCrops`` -> float32 in [0, 1] (run it after moving to the device)."""
    return (crops.float() + 32768.0) / 65535.0


class RandomCrops(Dataset):
    """Item ``i``: a ``crop_size`` square RGB crop (3 x S x S int16, see ``load_rgb``), random in (seed, i).

    Photos are drawn in proportion to their area; decoded photos are kept per worker. Items stay
    int16 so a worker only copies bytes: a GPU takes thousands of crops a second.

    Wallpaper-style photos are mostly sky, bokeh and fog: in the shipped pool 63% of 96 px crops
    are flat (high-pass RMS under 2 on the 0-255 scale) against 6% in CBSD68, and a network
    trained on them learns to flatten texture. Two options move the draw towards texture:
    ``zoom_out`` Z takes each crop from a region 1..Z times larger, area-averaged back down (the
    same scene at a coarser scale has more detail per pixel), and ``min_texture`` T keeps a crop
    whose ``texture`` is under T only with probability ``FLAT_KEEP`` (else draws again, at most
    ``TEXTURE_DRAWS`` times), so flat areas stay in the mix without dominating it.
    """

    def __init__(
        self, paths: list[Path], crop_size: int, seed: int, length: int, zoom_out: int = 1, min_texture: float = 0.0
    ):
        if zoom_out < 1:
            raise DenoiseError(f"zoom-out must be at least 1, got {zoom_out}")
        self.paths = list(paths)
        self.crop_size = crop_size
        self.seed = seed
        self.length = length
        self.zoom_out = zoom_out
        self.min_texture = min_texture
        areas = np.array([w * h for w, h in map(image_size, self.paths)], dtype=np.float64)
        self.cumulative_odds = np.cumsum(areas / areas.sum())
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, index])
        for draw in range(TEXTURE_DRAWS):
            crop = self._draw(rng)
            last = draw == TEXTURE_DRAWS - 1
            if self.min_texture <= 0 or last or texture(crop) >= self.min_texture or rng.random() < FLAT_KEEP:
                break
        crop = np.rot90(crop, k=int(rng.integers(0, 4)), axes=(1, 2))
        if rng.integers(0, 2):
            crop = crop[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(crop))

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        photo_index = min(int(np.searchsorted(self.cumulative_odds, rng.random(), side="right")), len(self.paths) - 1)
        if photo_index not in self._cache:
            self._cache[photo_index] = load_rgb(self.paths[photo_index])
        photo = self._cache[photo_index]
        zoom = int(rng.integers(1, self.zoom_out + 1))
        zoom = max(1, min(zoom, min(photo.shape[1:]) // self.crop_size))  # a small photo gives what it has
        size = self.crop_size * zoom
        top = int(rng.integers(0, photo.shape[1] - size + 1))
        left = int(rng.integers(0, photo.shape[2] - size + 1))
        crop = photo[:, top : top + size, left : left + size]
        if zoom > 1:
            # Area averaging: an antialiased downscale, so the target stays clean.
            blocks = crop.reshape(3, self.crop_size, zoom, self.crop_size, zoom).astype(np.float32)
            crop = np.round(blocks.mean(axis=(2, 4))).astype(np.int16)
        return crop


TEXTURE_DRAWS = 8
FLAT_KEEP = 0.2  # share of flat draws kept as they come: skies and walls are real too


def texture(crop: np.ndarray) -> float:
    """High-pass RMS of a crop's channel mean on the 0-255 scale (3 x S x S int16 as ``load_rgb`` gives).

    The 5-point Laplacian divided by sqrt(20) reads as the standard deviation of white noise:
    near 0 on flat areas and smooth gradients, 3 and up on foliage, fabric or gravel.
    """
    gray = crop.astype(np.float32).mean(axis=0) * (255.0 / 65535.0)
    laplacian = 4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    return float(np.sqrt((laplacian**2).mean() / 20.0))


class ShardedRange(Sampler[int]):
    """Indices ``start..stop-1`` that belong to ``rank`` (every ``world``-th), in order.

    Like ``DistributedSampler`` without shuffling (the crops are already random), but able to
    start mid-stream, which exact resume needs.
    """

    def __init__(self, start: int, stop: int, rank: int = 0, world: int = 1):
        self.indices = range(start + rank, stop, world)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


VALIDATION_SEED = 7919  # fixed, not the run's seed, so validation scores compare across runs


def validation_crops(
    paths: list[Path], crop_size: int, count: int, zoom_out: int = 1, min_texture: float = 0.0
) -> torch.Tensor:
    """A fixed set of ``count`` crops spread over the validation photos (N x 3 x S x S).

    Drawn like the training crops (``zoom_out``, ``min_texture``), so validation scores what the
    run trains for; scores therefore compare only between runs with the same two settings.
    """
    if not paths:
        raise DenoiseError("the validation split is empty: add photos or raise --validation-fraction")
    dataset = RandomCrops(paths, crop_size, VALIDATION_SEED, count, zoom_out, min_texture)
    return to_unit(torch.stack([dataset[index] for index in range(count)]))
