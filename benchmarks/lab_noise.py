"""The chroma path with and without the LAB noise correction, and how exact the correction is.

    python benchmarks/lab_noise.py data/validation --side 512
    python benchmarks/lab_noise.py data/validation --side 512 --clipped
    python benchmarks/lab_noise.py --accuracy

Photos: for each photo (its centre ``--side`` pixels) and case, the model's sidecar runs as
``denoise`` runs it (``inference.Denoiser``, the per-photo guard resolved) with
``color.restore.lab_noise`` off and on, and on with ``lightness_from_chroma`` too (L's detail
given back from a noisy L with the share of its noise that A/B's predicts taken out); the
'on' output's L is also put back with the clean A/B: the most any chroma filter could give.
Cases: the clean photo, Gaussian noise at sigma 5, 15, 25 and 50 (float, or clipped to 8 bits
with ``--clipped``), and the seed protocol's salt-and-pepper, blur and knockout (clipped). RGB
PSNR (dB, 8-bit result), means over photos.

``--accuracy`` needs no photos: on a grid of colours it compares the bias and slopes of
``lab_noise.lab_noise_statistics`` with those of sampled noise (``--draws`` per colour), for
float and clipped noise: how far the six points are from the truth, against the bias itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np
import torch
from wiener import centre  # benchmarks/wiener.py, beside this script: the same centre crop

from denoisecli.checkpoint import resolve_model_path
from denoisecli.color import lab_to_rgb, rgb_to_lab
from denoisecli.evaluate import Case, corrupt_for_case, image_seed
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import Denoiser
from denoisecli.lab_noise import lab_noise_statistics
from denoisecli.metrics import psnr
from denoisecli.noise import clip_to_photo

SIGMAS = (5, 15, 25, 50)


def accuracy(draws: int, levels: int) -> None:
    grid = torch.linspace(0.05, 0.95, levels)
    colours = torch.tensor(list(itertools.product(grid, grid, grid))).view(-1, 3, 1, 1)
    generator = torch.Generator().manual_seed(0)
    print(f"{len(colours)} colours ({levels} levels of R, G, B from 0.05 to 0.95), {draws} draws each")
    print("| sigma | noise | A/B bias, mean / max abs | its error, mean / max abs | slope error, mean / max abs |")
    print("|---|---|---|---|---|")
    for sigma, clipped in itertools.product((15, 25, 50), (False, True)):
        samples = colours + sigma / 255 * torch.randn(len(colours), 3, 1, draws, generator=generator)
        noise = rgb_to_lab(samples.clamp(0, 1) if clipped else samples) - rgb_to_lab(colours)
        lightness = noise[:, :1] - noise[:, :1].mean(dim=(2, 3), keepdim=True)
        chroma = noise[:, 1:] - noise[:, 1:].mean(dim=(2, 3), keepdim=True)
        sampled_slope = (chroma * lightness).sum(dim=(2, 3)) / lightness.square().sum(dim=(2, 3))
        statistics = lab_noise_statistics(rgb_to_lab(colours), torch.full((len(colours),), sigma / 255), clipped)
        truth = noise[:, 1:].mean(dim=(2, 3))
        bias_error = (statistics.bias[:, 1:, 0, 0] - truth).abs()
        slope_error = (statistics.chroma_slope[..., 0, 0] - sampled_slope).abs()
        print(
            f"| {sigma} | {'clipped' if clipped else 'float'} | {truth.abs().mean():.2f} / {truth.abs().max():.2f} "
            f"| {bias_error.mean():.2f} / {bias_error.max():.2f} | {slope_error.mean():.3f} / {slope_error.max():.3f} |"
        )


def photos(arguments: argparse.Namespace) -> None:
    denoiser = Denoiser.load(resolve_model_path(arguments.model), torch.device("cpu"))
    sidecar_restore = denoiser.restore or {}
    switches = {
        "off": {"lab_noise": False},
        "on": {"lab_noise": True, "lightness_from_chroma": False},
        "on, and L": {"lab_noise": True, "lightness_from_chroma": True},
    }
    settings = {
        name: dataclasses.replace(denoiser, restore={**sidecar_restore, **switch}) for name, switch in switches.items()
    }
    cases = [Case("clean", None)] + [Case(f"sigma{s}", float(s)) for s in SIGMAS]
    cases += [Case("saltpepper", None), Case("blur", None), Case("knockout", None)]
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    scores: dict[tuple[str, str], list[float]] = {}
    for path in images:
        clean = centre(torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float(), arguments.side)
        if clean.shape[1] != 3:
            continue  # a gray photo has no chroma path
        for case in cases:
            generator = torch.Generator().manual_seed(image_seed(0, path.name, case.name))
            gaussian = case.name.startswith("sigma")
            noisy = corrupt_for_case(clean, case, generator, clip=arguments.clipped or not gaussian)
            pixels = noisy[0].permute(1, 2, 0).numpy()
            for name, denoiser in settings.items():
                result = denoiser.tensor(noisy, denoiser.photo_restore(pixels))
                scores.setdefault((case.name, name), []).append(psnr(clip_to_photo(result), clean).item())
                if name == "on":
                    lab = torch.cat([rgb_to_lab(result)[:, :1], rgb_to_lab(clean)[:, 1:]], dim=1)
                    ceiling = psnr(clip_to_photo(lab_to_rgb(lab)), clean).item()
                    scores.setdefault((case.name, "its L, clean A/B"), []).append(ceiling)
        print(f"done {path.name}", flush=True)
    columns = ["off", "on", "on, and L", "its L, clean A/B"]
    noise = "clipped to 8 bits" if arguments.clipped else "float (salt-and-pepper, blur and knockout clipped)"
    side = f"centre {arguments.side} px" if arguments.side else "whole"
    count = len(scores[(cases[0].name, "off")])
    print(f"\n{count} colour photos from {arguments.folder} ({side}), Gaussian noise {noise}; RGB PSNR (dB)")
    print(f"model {arguments.model}; lab_noise off / on / on with lightness_from_chroma, and the 'on' output's L")
    print("with the clean A/B")
    print("| case | " + " | ".join(columns) + " | on - off | on, and L - on |")
    print("|---|" + "---|" * (len(columns) + 2))
    for case in cases:
        means = [float(np.mean(np.minimum(scores[(case.name, column)], 99.0))) for column in columns]
        cells = " | ".join(f"{m:.2f}" for m in means)
        print(f"| {case.name} | {cells} | {means[1] - means[0]:+.3f} | {means[2] - means[1]:+.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--side", type=int, default=512, help="centre crop (0: whole photos)")
    parser.add_argument("--clipped", action="store_true", help="Gaussian noise clipped and quantised to 8 bits")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--accuracy", action="store_true", help="the correction against sampled noise, no photos")
    parser.add_argument("--draws", type=int, default=20000)
    parser.add_argument("--levels", type=int, default=5)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.accuracy:
        accuracy(arguments.draws, arguments.levels)
    elif arguments.folder:
        photos(arguments)
    else:
        parser.error("give a folder of photos, or --accuracy")


if __name__ == "__main__":
    main()
