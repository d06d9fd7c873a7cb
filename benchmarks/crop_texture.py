"""How much texture the training crops carry, against a test set's.

    python benchmarks/crop_texture.py data/train-photos --compare ../shared/data/testsets/CBSD68 \
        --sampler 1,0 --sampler 4,0 --sampler 1,5 --sampler 4,5

For each folder, random ``--size`` crops (``--per-photo`` a photo, fixed seed) are scored with
``data.texture`` (high-pass RMS on the 0-255 scale: about 0 on sky, 3 and up on foliage); then,
for each ``--sampler ZOOM,MIN_TEXTURE``, the crops ``train`` would draw from the first folder's
training split with ``--zoom-out ZOOM --min-texture MIN_TEXTURE``. Prints the 10/25/50/75/90th
percentiles and the share of flat crops (texture under 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from denoisecli.data import RandomCrops, find_training_photos, load_rgb, split_by_name, texture
from denoisecli.train import TrainConfig

FLAT = 2.0


def folder_crops(folder: Path, size: int, per_photo: int) -> list[float]:
    rng = np.random.default_rng(0)
    scores = []
    for path in find_training_photos([folder]):
        photo = load_rgb(path)
        if min(photo.shape[1:]) < size:
            continue
        for _ in range(per_photo):
            top = int(rng.integers(0, photo.shape[1] - size + 1))
            left = int(rng.integers(0, photo.shape[2] - size + 1))
            scores.append(texture(photo[:, top : top + size, left : left + size]))
    return scores


def sampler_crops(folder: Path, size: int, count: int, zoom_out: int, min_texture: float) -> list[float]:
    fractions = TrainConfig.validation_fraction, TrainConfig.test_fraction  # train's default split
    train = split_by_name(find_training_photos([folder]), *fractions)["train"]
    crops = RandomCrops(train, size, seed=0, length=count, zoom_out=zoom_out, min_texture=min_texture)
    return [texture(crops[index].numpy()) for index in range(count)]


def row(label: str, scores: list[float]) -> str:
    values = np.asarray(scores)
    percentiles = " | ".join(f"{value:.2f}" for value in np.percentile(values, [10, 25, 50, 75, 90]))
    return f"| {label} | {len(values)} | {percentiles} | {np.mean(values < FLAT):.0%} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the training photos")
    parser.add_argument("--compare", type=Path, action="append", default=[], help="a test set folder; repeat")
    parser.add_argument("--sampler", action="append", default=[], help="ZOOM,MIN_TEXTURE as train takes them")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--per-photo", type=int, default=40)
    parser.add_argument("--count", type=int, default=1000, help="crops per sampler")
    arguments = parser.parse_args()
    print("| crops | n | p10 | p25 | median | p75 | p90 | flat (< 2) |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in [*arguments.compare, arguments.folder]:
        print(row(f"{folder.name}, uniform", folder_crops(folder, arguments.size, arguments.per_photo)), flush=True)
    for spec in arguments.sampler:
        zoom, min_texture = spec.split(",")
        scores = sampler_crops(arguments.folder, arguments.size, arguments.count, int(zoom), float(min_texture))
        print(row(f"train sampler, zoom-out {zoom}, min-texture {min_texture}", scores), flush=True)


if __name__ == "__main__":
    main()
