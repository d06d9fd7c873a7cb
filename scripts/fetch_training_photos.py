"""Assemble the training pool from Debian packages of real photographs.

    python scripts/fetch_training_photos.py data/train-photos [--cache .cache/debs]

For each package: ``apt-get download`` + ``dpkg -x`` (no install, no root needed for dpkg -x),
pick the photographs listed below (non-photographic art in the same packages is left out),
downscale 2x with antialiasing (removes JPEG blocking and sensor noise, so the targets are
clean), and write PNGs plus ``manifest.json`` (package, version, licence, source path, size).
Never add ../shared/data/testsets here: those are for evaluation only.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

Image.MAX_IMAGE_PIXELS = 200_000_000

# package -> (licence as stated in the package's copyright file, photo globs relative to its root)
SOURCES: dict[str, tuple[str, list[str]]] = {
    "mate-backgrounds": ("GPL-2+ / CC-BY-SA (see debian/copyright)", ["usr/share/backgrounds/mate/nature/*.jpg"]),
    "lxqt-themes": (
        "CC-BY-SA-3.0 / GPL (see debian/copyright)",
        [
            f"usr/share/lxqt/wallpapers/{name}"
            for name in (
                "fog.jpg",
                "after-the-rain.jpg",
                "Butterfly-Kenneth-Wimer.jpg",
                "flowers.png",
                "appleflower.png",
                "Valendas.png",
                "cloud.png",
                "drop.png",
                "butterfly.png",
            )
        ],
    ),
    "lomiri-wallpapers-16.04": ("CC-BY-SA (see debian/copyright)", ["usr/share/backgrounds/*.jpg"]),
    "lomiri-wallpapers-20.04": (
        "CC-BY-SA (see debian/copyright)",
        [
            "usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
            "usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg",
            "usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg",
        ],
    ),
    "plasma-workspace-wallpapers": (
        "LGPL-3 / CC-BY-SA (see debian/copyright)",
        [
            f"usr/share/wallpapers/{name}/contents/images/2560x1600.jpg"
            for name in (
                "Autumn",
                "BytheWater",
                "ColdRipple",
                "ColorfulCups",
                "DarkestHour",
                "EveningGlow",
                "FallenLeaf",
                "Path",
                "summer_1am",
            )
        ]
        + ["usr/share/wallpapers/MilkyWay/contents/images/5120x2880.png"],
    ),
    "palapeli-data": ("GPL-2+ / CC (see debian/copyright)", ["usr/share/palapeli/collection/*.jpg"]),
    "libjxl-testdata": (
        "BSD-3-Clause / CC0 (see external/wesaturate/LICENSE.md)",
        [
            "usr/share/libjxl-testdata/jxl/flower/flower.png",
            "usr/share/libjxl-testdata/external/wesaturate/500px/*_srgb8.png",
        ],
    ),
    "enlightenment-data": (
        "BSD-2-Clause (see debian/copyright)",
        [
            f"usr/share/enlightenment/data/backgrounds/{name}.edj"
            for name in (
                "Foggy-Trees",
                "Sea-of-Lanterns",
                "Yellow-Flower",
                "Red-Maple",
                "Peaks",
                "Bamboo",
                "Snow-Trees",
                "White-Flower",
                "Lichen-Branches",
                "Dunes",
                "Spruce-Needles",
                "Green-Maple",
                "God-Rays",
                "Sunset-Hills",
            )
        ],
    ),
}


def fetch(package: str, cache: Path) -> tuple[Path, str]:
    """Download and unpack ``package`` into the cache; return (root, version)."""
    existing = sorted(cache.glob(f"{package}_*.deb"))
    if not existing:
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        existing = sorted(cache.glob(f"{package}_*.deb"))
    deb = existing[-1]
    root = cache / deb.stem
    if not root.exists():
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return root, version


def largest_embedded_jpeg(archive: Path, destination: Path) -> Path | None:
    """Copy the largest JPEG stream out of an Edje archive (much faster than edje_decc)."""
    data = archive.read_bytes()
    best, start = b"", data.find(b"\xff\xd8\xff")
    while start != -1:
        end = data.find(b"\xff\xd9", start)
        # Scan forward to the last end marker before the next start marker: thumbnails nest inside.
        next_start = data.find(b"\xff\xd8\xff", start + 3)
        limit = next_start if next_start != -1 else len(data)
        last_end = data.rfind(b"\xff\xd9", start, limit)
        if end != -1 and last_end != -1 and last_end + 2 - start > len(best):
            best = data[start : last_end + 2]
        start = next_start
    if not best:
        return None
    destination.write_bytes(best)
    return destination


def downscale(source: Path, destination: Path) -> tuple[int, int]:
    with Image.open(source) as image:
        image = image.convert("RGB")
        half = (image.width // 2, image.height // 2)
        image.resize(half, Image.Resampling.LANCZOS).save(destination, optimize=False)
        return half


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--cache", type=Path, default=Path(".cache/debs"))
    arguments = parser.parse_args()
    arguments.output.mkdir(parents=True, exist_ok=True)
    arguments.cache.mkdir(parents=True, exist_ok=True)
    manifest = []
    for package, (licence, globs) in SOURCES.items():
        root, version = fetch(package, arguments.cache.resolve())
        files = sorted(
            path for path in root.rglob("*") if any(fnmatch.fnmatch(str(path.relative_to(root)), g) for g in globs)
        )
        for source in files:
            # The path keeps names unique (plasma's photos are all called 2560x1600.jpg).
            relative = source.relative_to(root).with_suffix("")
            name = f"{package}__{'-'.join(relative.parts[-4:])}.png".replace(" ", "_")
            original = source
            if source.suffix == ".edj":
                source = largest_embedded_jpeg(source, arguments.cache / f"{source.stem}.jpg")
                if source is None:
                    print(f"skipped {original}: no embedded JPEG", file=sys.stderr)
                    continue
            with Image.open(source) as image:
                original_size = image.size
            if min(original_size) < 400:
                print(f"skipped {original}: {original_size} is too small", file=sys.stderr)
                continue
            size = downscale(source, arguments.output / name)
            manifest.append(
                {
                    "file": name,
                    "package": package,
                    "version": version,
                    "licence": licence,
                    "source": str(original.relative_to(root)),
                    "original_size": list(original_size),
                    "size": list(size),
                }
            )
            print(f"{name}: {original_size} -> {size}", file=sys.stderr)
    (arguments.output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    megapixels = sum(item["original_size"][0] * item["original_size"][1] for item in manifest) / 1e6
    print(f"{len(manifest)} photos, {megapixels:.0f} megapixels before downscaling -> {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
