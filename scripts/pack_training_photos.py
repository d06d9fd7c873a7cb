"""Shrink the training pool to fit a borrowed GPU's carry limit (64 MiB with the repo).

    python scripts/pack_training_photos.py data/train-photos gpu-pack/photos --area 0.42
    python scripts/pack_training_photos.py data/train-photos reports/pool-test --parts test --center 512

Keeps every train and validation photo (by `denoisecli train`'s name-hash split, so the split
on the GPU is the split here) and leaves out the test photos. Of each kept photo it keeps one
region of ``--area`` of its pixels at a fixed random place: every scene stays in the pool at
the same pixel scale, only less of each. Names are kept, so the split stays the same. A
``manifest.json`` records the region taken from each photo. ``--parts test --center 512`` instead
writes the central 512x512 of each held-out test photo: an in-domain test set for `evaluate`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from PIL import Image

from denoisecli.data import split_by_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("destination", type=Path)
    parser.add_argument("--area", type=float, default=0.42, help="fraction of each photo's pixels to keep")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="train,validation", help="which split parts to write")
    parser.add_argument("--center", type=int, default=None, help="write the central NxN instead of --area")
    arguments = parser.parse_args()

    photos = sorted(arguments.source.glob("*.png"))
    split = split_by_name(photos, arguments.validation_fraction, arguments.test_fraction)
    arguments.destination.mkdir(parents=True, exist_ok=True)
    side = math.sqrt(arguments.area)
    chooser = random.Random(arguments.seed)
    manifest, total = [], 0
    for part in arguments.parts.split(","):
        for path in split[part]:
            with Image.open(path) as image:
                width, height = image.size
                if arguments.center:
                    crop_width, crop_height = min(width, arguments.center), min(height, arguments.center)
                    left, top = (width - crop_width) // 2, (height - crop_height) // 2
                else:
                    crop_width, crop_height = round(width * side), round(height * side)
                    left = chooser.randint(0, width - crop_width)
                    top = chooser.randint(0, height - crop_height)
                region = image.crop((left, top, left + crop_width, top + crop_height))
                target = arguments.destination / path.name
                region.save(target, compress_level=9)
            total += target.stat().st_size
            manifest.append({"name": path.name, "split": part, "box": [left, top, crop_width, crop_height]})
    (arguments.destination / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(manifest)} photos ({arguments.parts}), {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
