"""Corrupt photo files with the training noises: reproducible noisy inputs for anyone to rerun."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from denoisecli.errors import DenoiseError
from denoisecli.imageio import DEFAULT_MAX_MEGAPIXELS, read_photo, write_photo
from denoisecli.noise import NoiseSettings, Range, clip_to_photo, corruption


def parse_range(text: str) -> Range:
    """``"25"`` -> 25.0 (fixed); ``"5,50"`` -> (5.0, 50.0) (drawn per image)."""
    try:
        parts = [float(part) for part in text.split(",")]
    except ValueError:
        raise DenoiseError(f"{text!r} is not a number or a LOW,HIGH pair") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] <= parts[1]:
        return (parts[0], parts[1])
    raise DenoiseError(f"{text!r} is not a number or a LOW,HIGH pair with LOW <= HIGH")


def file_generator(seed: int, key: str) -> torch.Generator:
    """A generator that depends on the seed and the file's name, not on the order of the batch."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") & (2**63 - 1))


def corrupt_file(
    source: Path,
    destination: Path,
    noise: str,
    settings: NoiseSettings,
    generator: torch.Generator,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
) -> float:
    """Apply ``noise`` in RGB and write ``destination`` at the input's bit depth; return megapixels."""
    photo = read_photo(source, max_megapixels)
    image = torch.from_numpy(photo.pixels).permute(2, 0, 1).unsqueeze(0)
    noisy = corruption(noise, settings)(image, generator)
    noisy = clip_to_photo(noisy, photo.bit_depth)
    write_photo(destination, photo.with_pixels(noisy[0].permute(1, 2, 0).numpy()))
    return photo.megapixels
