"""Noisy photos saved as JPEG, the way users have them: does the restore step still help?

    python benchmarks/jpeg_inputs.py ../shared/data/testsets/CBSD68 --limit 10

JPEG smooths the noise it keeps (it is no longer white), which could fool the noise estimate
behind the restore step into giving noise back. For Gaussian noise of sigma 5, 15 and 25, saved
as PNG (8-bit), JPEG quality 95 and JPEG quality 85, this runs the shipped `skip` model through
`denoise`'s pipeline at ``--strength`` 1 (default), 2 and inf (the raw network), and prints RGB
PSNR (dB) against the clean photo, mean over images.
"""

from __future__ import annotations

import argparse
import io
import math

import numpy as np
import torch
from PIL import Image

from denoisecli.checkpoint import resolve_model_path
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import Denoiser

STRENGTHS = (1.0, 2.0, math.inf)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


def saved(noisy: np.ndarray, quality: int | None) -> np.ndarray:
    """``noisy`` as an 8-bit PNG (quality None) or a JPEG of that quality would hold it."""
    pixels = np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)
    if quality is None:
        return pixels.astype(np.float32) / 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).astype(np.float32) / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    denoisers = {s: Denoiser.load(resolve_model_path(arguments.model), torch.device("cpu"), s) for s in STRENGTHS}
    images = [read_photo(path).pixels for path, _ in find_images([arguments.folder])][: arguments.limit]
    print(f"{len(images)} images from {arguments.folder}, model {arguments.model}; RGB PSNR (dB)\n")
    print("| sigma | saved as | input | " + " | ".join(f"strength {s:g}" for s in STRENGTHS) + " |")
    print("|---|---|---|" + "---|" * len(STRENGTHS))
    for sigma in (5, 15, 25):
        for quality in (None, 95, 85):
            rng = np.random.default_rng(sigma)  # the same noise for every format
            inputs, outputs = [], {s: [] for s in STRENGTHS}
            for clean in images:
                noisy = saved(clean + rng.normal(0, sigma / 255, clean.shape), quality)
                inputs.append(psnr(noisy, clean))
                for strength, denoiser in denoisers.items():
                    outputs[strength].append(psnr(np.round(denoiser.pixels(noisy) * 255) / 255, clean))
            name = "PNG" if quality is None else f"JPEG q{quality}"
            scores = " | ".join(f"{np.mean(outputs[s]):.2f}" for s in STRENGTHS)
            print(f"| {sigma} | {name} | {np.mean(inputs):.2f} | {scores} |")


if __name__ == "__main__":
    main()
