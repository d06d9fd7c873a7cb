"""The restore step's sharpening guard on, looser, and off, through the whole `denoise` pipeline.

    python benchmarks/sharpening_guard.py data/validation --side 512 [--model skip] [--margins 1.5 2]
    python benchmarks/sharpening_guard.py data/train-photos --side 400 --floors 1e-4 1e-3 --cases clean blur

The guard (``detail.sharpened``) keeps the network's output wherever it has more fine detail than
the input, so that a model that deblurs is not undone by the restore step. For each photo (its
centre ``--side`` pixels) and seed-protocol case (clean, Gaussian sigma 5 and 25, salt-and-pepper,
blur, knockout; clipped to 8 bits, seeds as in ``evaluate``), the sidecar runs as it is; with
each ``--margins`` value in place of ``detail.SHARPENING_MARGIN``; with each ``--floors`` value
in place of ``detail.SHARPENING_FLOOR`` (the guard fires only where the output's fine-detail
energy exceeds margin x the input's + floor); with each ``--max-noise`` N as the per-photo rule
``{"max_noise": N}`` (the guard only on photos whose fine-scale luma noise reads at most N); and
with ``restore.sharpening_guard`` false. Prints mean RGB PSNR per case, each photo capped at
``--psnr-cap`` dB as the validation rule does.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from wiener import centre  # benchmarks/wiener.py, beside this script: the same centre crop

import denoisecli.detail as detail
from denoisecli.checkpoint import resolve_model_path
from denoisecli.deblur import luma_noise
from denoisecli.evaluate import Case, corrupt_for_case, image_seed
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import Denoiser
from denoisecli.metrics import psnr
from denoisecli.noise import clip_to_photo

CASES = [
    Case("clean", None),
    Case("gaussian", 5.0),
    Case("gaussian", 25.0),
    Case("saltpepper", None),
    Case("blur", None),
    Case("knockout", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--side", type=int, default=512, help="centre crop (0: whole photos)")
    parser.add_argument("--margins", type=float, nargs="*", default=[], help="guard margins besides the sidecar's")
    parser.add_argument("--floors", type=float, nargs="*", default=[], help="guard floors besides the shipped one")
    parser.add_argument(
        "--max-noise", type=float, nargs="*", default=[], help="per-photo guard rules {'max_noise': N} to try"
    )
    parser.add_argument("--psnr-cap", type=float, default=48.0)
    parser.add_argument("--cases", nargs="*", default=None, help="only these cases (e.g. clean blur gaussian25)")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    path = resolve_model_path(arguments.model)
    guarded = Denoiser.load(path, torch.device("cpu"))
    unguarded = Denoiser.load(path, torch.device("cpu"))  # a second copy: the restore settings are its own
    unguarded.restore["sharpening_guard"] = False
    shipped = (detail.SHARPENING_MARGIN, detail.SHARPENING_FLOOR)
    settings = [("sidecar", guarded, shipped)]
    settings += [(f"margin {m:g}", guarded, (m, shipped[1])) for m in arguments.margins]
    settings += [(f"floor {f:g}", guarded, (shipped[0], f)) for f in arguments.floors]
    for limit in arguments.max_noise:
        per_photo = Denoiser.load(path, torch.device("cpu"))
        per_photo.restore["sharpening_guard"] = {"max_noise": limit}
        settings.append((f"guard if noise <= {limit:g}", per_photo, shipped))
    settings += [("guard off", unguarded, shipped)]
    scores: dict[tuple[str, str], list[float]] = {}
    readings: dict[str, list[float]] = {}  # each input's luma_noise, what the per-photo rule reads
    images = [photo for photo, _ in find_images([arguments.folder])]
    for photo in images:
        clean = centre(torch.from_numpy(read_photo(photo).pixels).permute(2, 0, 1)[None].float(), arguments.side)
        for case in CASES:
            name = case.name if case.sigma is None else f"{case.name}{case.sigma:g}"
            if arguments.cases and name not in arguments.cases:
                continue
            generator = torch.Generator().manual_seed(image_seed(0, photo.name, name))
            noisy = clean if case.name == "clean" else corrupt_for_case(clean, case, generator, clip=True)
            pixels = noisy[0].permute(1, 2, 0).contiguous().numpy()
            readings.setdefault(name, []).append(luma_noise(pixels))
            for label, denoiser, (margin, floor) in settings:
                detail.SHARPENING_MARGIN, detail.SHARPENING_FLOOR = margin, floor
                output = torch.from_numpy(denoiser.pixels(pixels)).permute(2, 0, 1)[None]
                score = min(psnr(clip_to_photo(output), clean).item(), arguments.psnr_cap)
                scores.setdefault((name, label), []).append(score)
        detail.SHARPENING_MARGIN, detail.SHARPENING_FLOOR = shipped
        print(f"done {photo.name}", flush=True)
    labels = [label for label, _, _ in settings]
    cap = f"capped at {arguments.psnr_cap:g}"
    print(f"\n{len(images)} photos from {arguments.folder}, {arguments.model}; RGB PSNR (dB), {cap}")
    print("| case | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    table = {}
    for name in dict.fromkeys(case for case, _ in scores):
        means = [float(np.mean(scores[(name, label)])) for label in labels]
        table[name] = dict(zip(labels, means, strict=True))
        print(f"| {name} | " + " | ".join(f"{mean:.2f}" for mean in means) + " |")
    print("\nluma_noise of the inputs (0-255): case, median, max, share above each --max-noise")
    for name, values in readings.items():
        shares = " ".join(f"{np.mean(np.array(values) > limit):.2f}" for limit in arguments.max_noise)
        print(f"{name}: {np.median(values):.3f} {np.max(values):.3f} {shares}")
    print("\n" + json.dumps(table))


if __name__ == "__main__":
    main()
