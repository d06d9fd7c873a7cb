"""Milliseconds per megapixel of the impulse fill before the network (``impulses.prefill_impulses``) alone.

    python benchmarks/prefill_speed.py ../shared/data/testsets/CBSD68 --limit 20

Each photo with Gaussian noise of sigma 25 (clipped and quantised to 8 bits, as ``denoise_speed``
draws it: clipped areas give pixels at black or white in every channel) and with 5%
salt-and-pepper, each noise from a fixed seed; the fastest of ``--repeats`` calls per photo, with
the shipped default's settings. It calls only the public function, so it runs unchanged at an
earlier commit to compare implementations.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.imageio import find_images, read_photo
from denoisecli.impulses import prefill_impulses
from denoisecli.noise import clip_to_photo, gaussian, salt_and_pepper

NOISES = {
    "gaussian25": lambda images, generator: clip_to_photo(gaussian(images, generator, 25.0)),
    "saltpepper5": lambda images, generator: salt_and_pepper(images, generator, 0.05),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="skip", help="whose sidecar's prefill_impulses settings to time")
    args = parser.parse_args()
    settings = load_model(resolve_model_path(args.model))[1]["color"]["restore"]["prefill_impulses"]
    seconds = dict.fromkeys(NOISES, 0.0)
    filled = dict.fromkeys(NOISES, 0)
    megapixels = 0.0
    for path, _ in find_images([args.folder])[: args.limit]:
        clean = torch.from_numpy(read_photo(path).pixels[..., :3]).permute(2, 0, 1)[None]
        megapixels += clean.shape[-2] * clean.shape[-1] / 1e6
        for name, corrupt in NOISES.items():
            noisy = corrupt(clean, torch.Generator().manual_seed(0))[0].permute(1, 2, 0).numpy().copy()
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                result = prefill_impulses(noisy, **settings)
                best = min(best, time.perf_counter() - start)
            seconds[name] += best
            filled[name] += result is not noisy
    print(f"{args.limit} photos from {args.folder}, settings {settings}")
    print("| noise | ms/MP | photos filled |\n|---|---|---|")
    for name in NOISES:
        print(f"| {name} | {seconds[name] / megapixels * 1000:.1f} | {filled[name]} |")
    print(json.dumps({name: seconds[name] / megapixels * 1000 for name in NOISES}))


if __name__ == "__main__":
    main()
