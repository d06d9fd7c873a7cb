"""How much detail to give back at each noise level: the restore strength against the noise.

    python benchmarks/restore_strength.py data/validation --model skip

For each photo and case (the clean photo; float colour AWGN at sigma 5, 15, 25, 35 and 50; the
seed protocol's salt-and-pepper, blur and knockout, clipped to 8 bits), the model runs once on
the whole photo and the post-processing (``pipeline.network_output_to_image``) runs once per
multiplier of the sidecar's restore strengths (L and A/B alike, as ``denoise --strength`` does;
``1000`` is all but the raw network, its impulse fill kept). Prints RGB PSNR (dB, 8-bit result,
mean over photos) per case and multiplier, and the noise level the restore step estimates from
the noisy L (``noise.estimate_noise_level``, L units 0-100, mean over photos): the number a
noise-dependent strength would be read from.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.color import scale_lightness
from denoisecli.evaluate import Case, corrupt_for_case, image_seed
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import color_settings
from denoisecli.metrics import psnr
from denoisecli.models import fold_batch_norm
from denoisecli.noise import clip_to_photo
from denoisecli.pipeline import network_input, network_output_to_image, restore_noise_level

CASES = [Case("clean", None)] + [Case(f"sigma{sigma}", float(sigma)) for sigma in (5, 15, 25, 35, 50)]
CASES += [Case("saltpepper", None), Case("blur", None), Case("knockout", None)]
MULTIPLIERS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 1000.0)


def estimated_noise(lab: torch.Tensor) -> float:
    """The restore step's own noise estimate for this input, in L units (0-100)."""
    return float(restore_noise_level(scale_lightness(lab[:, :1]))) * 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write every photo's scores here")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    model, sidecar = load_model(resolve_model_path(arguments.model))
    model = fold_batch_norm(model.eval())
    chroma = color_settings(sidecar)[0]
    restores = {m: color_settings(sidecar, m)[1] for m in MULTIPLIERS}  # as denoise --strength m
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    scores = {(case.name, m): [] for case in CASES for m in MULTIPLIERS}
    noise = {case.name: [] for case in CASES}
    for path in images:
        clean = torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float()
        for case in CASES:
            generator = torch.Generator().manual_seed(image_seed(0, path.name, case.name))
            noisy = corrupt_for_case(clean, case, generator, clip=not case.name.startswith("sigma"))
            lab, network_in = network_input(noisy, model.config.chroma_input)
            noise[case.name].append(estimated_noise(lab))
            with torch.inference_mode():
                output = model(network_in)
                for m, restore in restores.items():
                    restored = clip_to_photo(network_output_to_image(lab, output, chroma, restore))
                    scores[(case.name, m)].append(psnr(restored, clean).item())
        print(f"done {path.name}", flush=True)
    print(f"\n{len(images)} photos from {arguments.folder}, model {arguments.model}; RGB PSNR (dB)")
    print("| case | estimated L noise | " + " | ".join(f"x{m:g}" for m in MULTIPLIERS) + " |")
    print("|---|---|" + "---|" * len(MULTIPLIERS))
    for case in CASES:
        row = [f"{np.mean(scores[(case.name, m)]):.2f}" for m in MULTIPLIERS]
        print(f"| {case.name} | {np.mean(noise[case.name]):.2f} | " + " | ".join(row) + " |")
    if arguments.json:
        with open(arguments.json, "w") as handle:
            per_photo = {f"{case}@x{m:g}": values for (case, m), values in scores.items()}
            json.dump({"photos": [p.name for p in images], "noise": noise, "psnr": per_photo}, handle, indent=1)


if __name__ == "__main__":
    main()
