"""Write a model cut to fewer channels, keeping those that matter most, to train on from.

A cheaper network that starts from a trained one's knowledge instead of from nothing
(``models.narrowed``): in each layer the channels the next layers read most strongly, weighted
by how strongly they fire on the given photos (centre crops, Gaussian noise of sigma 25 in RGB,
as the network sees a noisy photo). The cut network does not compute the original's function:
train it on (``train --init OUT --width W --growth G``).

    python scripts/narrow_model.py weights/skip.safetensors --growth 1.5 --photos photos/ -o narrow.safetensors

The output keeps the input's sidecar blocks (``color``, ``deblur``) and says where it came from.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from denoisecli.checkpoint import export_model, load_model, post_steps_of, sidecar_path
from denoisecli.errors import DenoiseError
from denoisecli.imageio import find_images, read_photo
from denoisecli.models import channel_activity, narrowed
from denoisecli.pipeline import network_input


def noisy_crops(folder: Path, count: int, size: int, seed: int = 0) -> torch.Tensor:
    """``count`` photos' centre crops (``size`` px, RGB), with Gaussian noise of sigma 25, clipped."""
    generator = np.random.default_rng(seed)
    crops = []
    for path, _ in find_images([folder])[:count]:
        pixels = read_photo(path).pixels
        if pixels.shape[2] < 3 or min(pixels.shape[:2]) < size:
            continue
        top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
        crop = pixels[top : top + size, left : left + size, :3]
        crops.append(np.clip(crop + generator.normal(0, 25 / 255, crop.shape), 0, 1).astype(np.float32))
    if not crops:
        raise DenoiseError(f"{folder}: no colour photo of at least {size} px to read the channels' activity on")
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the .safetensors to cut (sidecar beside it)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the cut .safetensors to write")
    parser.add_argument("--width", type=int, help="channels at the first level (default: the model's)")
    parser.add_argument("--growth", type=float, help="channel growth per level (default: the model's)")
    parser.add_argument("--photos", type=Path, help="photos to read the channels' activity on (default: none)")
    parser.add_argument("--count", type=int, default=8, help="how many of the photos")
    parser.add_argument("--size", type=int, default=256, help="their centre crops' size in pixels")
    args = parser.parse_args(argv)
    output = args.output.with_suffix(".safetensors")
    if output.resolve() == args.model.resolve():
        parser.error(f"{output} is the input; write the cut model to a new file")
    try:
        model, sidecar = load_model(args.model)
        width = args.width if args.width is not None else model.config.width
        growth = args.growth if args.growth is not None else model.config.growth
        activity = None
        if args.photos:
            images = network_input(noisy_crops(args.photos, args.count, args.size), model.config.chroma_input)[1]
            activity = channel_activity(model, images)
        cut = narrowed(model, replace(model.config, width=width, growth=growth), activity)
    except (DenoiseError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    note = f"{args.model} cut to {cut.config.channels()} channels"
    note += f", activity on {args.photos}" if activity else ""
    training = {"narrowed_from": str(args.model), "note": note}
    written = export_model(cut, output, sidecar["variant"], {"training": training}, post_steps_of(sidecar))
    print(f"wrote {written} and {sidecar_path(written).name}: channels {cut.config.channels()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
