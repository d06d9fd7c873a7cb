"""A textured validation set from another source: scikit-image's sample photographs.

    python scripts/fetch_validation_photos.py data/val-skimage [--cache .cache/wheels]
    python scripts/fetch_validation_photos.py data/validation --pool data/train-photos

``--pool`` also links the training pool's own validation photos (train's split by file name,
default fractions) into the folder: those 16 photos are the set that picks the shipped default
(docs/RESULTS.md, "The validation rule").

The training pool's validation photos are the same flat wallpapers as its training photos, and
they rank models against CBSD68 (docs/RESULTS.md, "Texture-aware crops and A/B as inputs"). These
eight photographs ship inside the scikit-image wheel on PyPI (``pip download``, no install):
portraits, animals, objects and close-up textures. PNG only (``rocket.jpg`` carries JPEG
blocking). Evaluation only, never training; licences are in the wheel's
``skimage/data/README.txt`` and noted per file in ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from denoisecli.data import find_training_photos, split_by_name
from denoisecli.train import TrainConfig

VERSION = "0.26.0"
PHOTOS = {
    "astronaut": "NASA, public domain",
    "chelsea": "Stefan van der Walt, CC0",
    "coffee": "Rachel Michetti, CC0",
    "motorcycle_left": "Middlebury stereo data set (see README.txt)",
    "brick": "CC0 (see README.txt)",
    "grass": "CC0 (see README.txt)",
    "gravel": "CC0 (see README.txt)",
    "camera": "see README.txt",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(".cache/wheels"))
    parser.add_argument("--pool", type=Path, help="training pool whose validation photos to link in too")
    arguments = parser.parse_args()
    arguments.cache.mkdir(parents=True, exist_ok=True)
    arguments.output.mkdir(parents=True, exist_ok=True)
    wheels = sorted(arguments.cache.glob(f"scikit_image-{VERSION}-*.whl"))
    if not wheels:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        subprocess.run([*command, "-d", str(arguments.cache), f"scikit-image=={VERSION}"], check=True)
        wheels = sorted(arguments.cache.glob(f"scikit_image-{VERSION}-*.whl"))
    manifest = []
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name, licence in PHOTOS.items():
            data = wheel.read(f"skimage/data/{name}.png")
            (arguments.output / f"{name}.png").write_bytes(data)
            manifest.append({"file": f"{name}.png", "source": f"scikit-image {VERSION}", "licence": licence})
    if arguments.pool:
        fractions = TrainConfig.validation_fraction, TrainConfig.test_fraction
        for photo in split_by_name(find_training_photos([arguments.pool]), *fractions)["validation"]:
            link = arguments.output / photo.name
            link.unlink(missing_ok=True)
            link.symlink_to(photo.resolve())
            manifest.append({"file": photo.name, "source": f"training pool {arguments.pool}, validation split"})
    (arguments.output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(manifest)} photos -> {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
