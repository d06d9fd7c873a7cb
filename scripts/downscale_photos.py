"""Photos at a test set's scale: downscaled to a shorter side, centre-cropped, for development.

    python scripts/downscale_photos.py data/train-photos data/pool-321 --count 24

The training pool's photos are 2-5 K wallpapers; CBSD68's are 481 x 321 scenes, whose detail is
finer per pixel. Choices that depend on that scale (the chroma filter, docs/RESULTS.md, sixteenth
session) are developed on pool photos brought to it (Lanczos, then the centre 481 x 321 in
their orientation), never on the test sets. ``--count`` photos, picked by a seeded shuffle.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("destination")
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--side", type=int, default=321, help="the shorter side after downscaling")
    parser.add_argument("--long", type=int, default=481, help="the longer side of the centre crop")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    photos = sorted(Path(arguments.source).glob("*.png"))
    random.Random(arguments.seed).shuffle(photos)
    destination = Path(arguments.destination)
    destination.mkdir(parents=True, exist_ok=True)
    for path in photos[: arguments.count]:
        image = Image.open(path).convert("RGB")
        scale = arguments.side / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        crop = (arguments.long, arguments.side) if image.width >= image.height else (arguments.side, arguments.long)
        left, top = (image.width - crop[0]) // 2, (image.height - crop[1]) // 2
        image.crop((left, top, left + crop[0], top + crop[1])).save(destination / path.name)
    print(f"{min(len(photos), arguments.count)} photos -> {destination}")


if __name__ == "__main__":
    main()
