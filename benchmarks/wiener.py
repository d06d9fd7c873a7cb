"""The L restore step three ways: the local gain, the DCT Wiener filter, and the filter from a noise level.

    python benchmarks/wiener.py data/validation --side 512
    python benchmarks/wiener.py data/validation --side 512 --clipped

For each photo (its centre ``--side`` pixels) and case, the model runs once and the pipeline's
post-processing (``pipeline.network_output_to_image``, chroma and impulse fill included) runs
once per restore setting: ``local`` is the sidecar's restore step without ``wiener`` (what
ships), ``wiener`` the filter at every noise level (``from_noise`` [0, 0]), ``wiener from 1-2``
the filter blended in from an estimated L noise of 1 to 2 (the thirteenth session's candidate
D; ``--from-noise 2,4`` adds its candidate E; ``--shapes`` adds the sidecar's own filter as it
is, at stride 2 and with the quincunx windows, for a sidecar that has one). Cases: the clean
photo, Gaussian noise at sigma 2, 5, 15, 25 and 50 (float, or clipped to 8 bits with
``--clipped``), and the seed protocol's salt-and-pepper and knockout (clipped). Prints RGB
PSNR (dB, 8-bit result) and PSNR of L (gray photos too); means over photos, and per photo with
``--per-photo``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.evaluate import Case, corrupt_for_case, image_seed
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import color_settings
from denoisecli.metrics import psnr
from denoisecli.models import fold_batch_norm
from denoisecli.noise import clip_to_photo
from denoisecli.pipeline import network_input, network_output_to_image

SIGMAS = (2, 5, 15, 25, 50)
WIENER = {"block": 8, "stride": 4}


def centre(image: torch.Tensor, side: int | None) -> torch.Tensor:
    if not side:
        return image
    height, width = image.shape[-2:]
    top, left = max(0, height // 2 - side // 2), max(0, width // 2 - side // 2)
    return image[..., top : top + side, left : left + side]


def lightness(image: torch.Tensor) -> torch.Tensor:
    """L on 0-1, for RGB and gray photos alike (the pipeline's own conversion)."""
    return network_input(image)[0][:, :1] / 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--side", type=int, default=512, help="centre crop (0: whole photos)")
    parser.add_argument("--clipped", action="store_true", help="Gaussian noise clipped and quantised to 8 bits")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-photo", action="store_true")
    parser.add_argument(
        "--from-noise", action="append", default=[], metavar="LOW,HIGH", help="another from_noise to try (repeat)"
    )
    parser.add_argument("--shapes", action="store_true", help="also the sidecar's filter at stride 2 and quincunx")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    model, sidecar = load_model(resolve_model_path(arguments.model))
    model = fold_batch_norm(model.eval())
    chroma, restore = color_settings(sidecar)
    local = {key: value for key, value in restore.items() if key != "wiener"}
    settings = {
        "local": local,
        "wiener": {**local, "wiener": {**WIENER, "from_noise": [0.0, 0.0]}},
        "wiener from 1-2": {**local, "wiener": {**WIENER, "from_noise": [1.0, 2.0]}},
    }
    for pair in arguments.from_noise:
        low, high = (float(v) for v in pair.split(","))
        settings[f"wiener from {low:g}-{high:g}"] = {**local, "wiener": {**WIENER, "from_noise": [low, high]}}
    if arguments.shapes and restore.get("wiener"):
        for label, change in [("stride 2", {"stride": 2}), ("quincunx", {"quincunx": True})]:
            settings[f"sidecar's filter, {label}"] = {**restore, "wiener": {**restore["wiener"], **change}}
        settings["sidecar's filter"] = restore
    cases = [Case("clean", None)] + [Case(f"sigma{s}", float(s)) for s in SIGMAS]
    cases += [Case("saltpepper", None), Case("knockout", None)]
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    scores: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for path in images:
        clean = centre(torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float(), arguments.side)
        for case in cases:
            generator = torch.Generator().manual_seed(image_seed(0, path.name, case.name))
            gaussian = case.name.startswith("sigma")
            noisy = corrupt_for_case(clean, case, generator, clip=arguments.clipped or not gaussian)
            lab, network_in = network_input(noisy, model.config.chroma_input)
            with torch.inference_mode():
                output = model(network_in)
                for name, setting in settings.items():
                    result = clip_to_photo(network_output_to_image(lab, output, chroma, setting))
                    rgb = min(psnr(result, clean).item(), 99.0)
                    light = min(psnr(lightness(result), lightness(clean)).item(), 99.0)
                    scores.setdefault((case.name, name), []).append((rgb, light))
        print(f"done {path.name}", flush=True)
    noise = "clipped to 8 bits" if arguments.clipped else "float (salt-and-pepper and knockout clipped)"
    side = f"centre {arguments.side} px" if arguments.side else "whole"
    print(f"\n{len(images)} photos from {arguments.folder} ({side}), Gaussian noise {noise}; PSNR (dB) RGB / L")
    print("| case | " + " | ".join(settings) + " |")
    print("|---|" + "---|" * len(settings))
    for case in cases:
        cells = []
        for name in settings:
            values = np.array(scores[(case.name, name)])
            cells.append(f"{values[:, 0].mean():.2f} / {values[:, 1].mean():.2f}")
        print(f"| {case.name} | " + " | ".join(cells) + " |")
    if arguments.per_photo:
        for index, path in enumerate(images):
            for case in cases:
                row = " ".join(f"{scores[(case.name, name)][index][0]:.2f}" for name in settings)
                print(f"{path.name} {case.name} {row}")


if __name__ == "__main__":
    main()
