"""How much detail to give back: the settings of ``denoisecli/detail.py``, one at a time.

    python benchmarks/restore.py ../shared/data/testsets/CBSD68 --model skip --limit 16

For each image and case (clean; Gaussian sigma 5, 15, 25, 50; salt-and-pepper 5%; random-valued
impulses 5%; blur sigma 1.5; knockout 5%; all clipped to 8 bits, one seed per image), the model
runs once and the full post-processing (``pipeline.network_output_to_image``) runs with each
setting: none (the smoothed outputs as they are), the default, and the default with one value
changed (the default is the model's sidecar's; ``--vary`` keeps only some settings' variations,
``--cases`` some cases), or with several values changed together (``--try
impulse_threshold=6,most_untrusted=3``, repeatable; ``--vary none`` leaves only those). RGB PSNR
(dB) on the 8-bit result, mean over images; ``--per-image CASE`` adds one row per image there.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import color_settings
from denoisecli.metrics import psnr
from denoisecli.models import fold_batch_norm
from denoisecli.noise import blur, clip_to_photo, gaussian, knockout, salt_and_pepper
from denoisecli.pipeline import network_input, network_output_to_image

CASES = ("clean", "sigma5", "sigma15", "sigma25", "sigma50", "saltpepper", "impulses", "blur", "knockout")
VARIATIONS = [
    ("radius", 4),
    ("strength", 0.5),
    ("strength", 0.75),
    ("strength", 2.0),
    ("chroma_strength", 1.0),
    ("chroma_strength", 4.0),
    ("impulse_threshold", 3.0),
    ("impulse_threshold", 6.0),
    ("most_untrusted", 1),
    ("most_untrusted", 3),
    ("most_untrusted", 4),
    ("most_untrusted", 6),
]


def corrupted(clean: torch.Tensor, case: str, generator: torch.Generator) -> torch.Tensor:
    if case.startswith("sigma"):
        return clip_to_photo(gaussian(clean, generator, float(case.removeprefix("sigma"))))
    if case == "impulses":  # random-valued: not saturated, so only the outlier test catches them
        hit = torch.rand((1, 1, *clean.shape[-2:]), generator=generator) < 0.05
        return clip_to_photo(torch.where(hit, torch.rand(clean.shape, generator=generator), clean))
    noisy = {
        "clean": lambda: clean.clone(),
        "saltpepper": lambda: salt_and_pepper(clean, generator, 0.05),
        "blur": lambda: blur(clean, generator, 1.5),
        "knockout": lambda: knockout(clean, generator, 0.05),
    }[case]()
    return clip_to_photo(noisy)


def combination(text: str) -> dict:
    """``key=value,key=value`` -> {key: value}: ``most_untrusted`` (a count) as an int, the rest as floats."""
    pairs = [part.split("=", 1) for part in text.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected key=value[,key=value], got {text!r}")
    return {key: int(value) if key == "most_untrusted" else float(value) for key, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--vary", nargs="+", help="only the variations of these settings (e.g. most_untrusted)")
    parser.add_argument(
        "--try",
        dest="tries",
        type=combination,
        action="append",
        default=[],
        metavar="K=V,K=V",
        help="also score the default with these settings changed together; repeatable",
    )
    parser.add_argument("--per-image", choices=CASES, help="also print each image's PSNR in this case")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    model, sidecar = load_model(resolve_model_path(arguments.model))
    model = fold_batch_norm(model.eval())
    chroma, default = color_settings(sidecar)  # the model's own
    settings = {"none": None, "default": default}
    for key, value in VARIATIONS:
        if not arguments.vary or key in arguments.vary:
            settings[f"{key} {value:g}"] = {**default, key: value}
    for changes in arguments.tries:
        settings[", ".join(f"{key} {value:g}" for key, value in changes.items())] = {**default, **changes}
    cases = arguments.cases
    scores = {(name, case): [] for name in settings for case in cases}
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    for index, path in enumerate(images):
        clean = torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float()
        for case in cases:
            noisy = corrupted(clean, case, torch.Generator().manual_seed(index))
            lab, network_in = network_input(noisy, model.config.chroma_input)
            with torch.inference_mode():
                output = model(network_in)
                for name, restore in settings.items():
                    restored = clip_to_photo(network_output_to_image(lab, output, chroma, restore))
                    scores[(name, case)].append(psnr(restored, clean).item())
    print(f"{len(images)} images from {arguments.folder}, model {arguments.model}; RGB PSNR (dB)")
    print(f"default (the model's sidecar): {default}\n")
    print("| restore | " + " | ".join(cases) + " |")
    print("|---|" + "---|" * len(cases))
    for name in settings:
        print(f"| {name} | " + " | ".join(f"{np.mean(scores[(name, case)]):.2f}" for case in cases) + " |")
    if arguments.per_image in cases:
        case = arguments.per_image
        print(f"\n{case}, per image\n\n| image | " + " | ".join(settings) + " |")
        print("|---|" + "---|" * len(settings))
        for index, path in enumerate(images):
            print(f"| {path.stem} | " + " | ".join(f"{scores[(name, case)][index]:.2f}" for name in settings) + " |")


if __name__ == "__main__":
    main()
