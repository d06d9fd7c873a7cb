"""What a model does to a clean photo: how much it loses, and how much blur that loss looks like.

    python benchmarks/texture_loss.py ../shared/data/testsets/CBSD68 --models skip noskip shallow --limit 20

A blind denoiser should hand back a clean input nearly unchanged. For each model this feeds the
clean photos' lightness through the network and reports the L PSNR of the output against the
input, and against the input blurred by Gaussians of several sigmas: if the output matches a
blurred copy better than the input, the model is smoothing texture it took for noise.
"""

from __future__ import annotations

import argparse

import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.imageio import find_images, read_photo
from denoisecli.metrics import psnr
from denoisecli.noise import blur
from denoisecli.pipeline import lab_to_network_input, network_input

BLUR_SIGMAS = (0.5, 0.7, 0.9, 1.1, 1.3)


def lightness_psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return psnr(a, b, peak=2.0).item()  # L scaled to [-1, 1]: peak-to-peak 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--models", nargs="+", default=["skip", "noskip", "shallow"])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    images = [path for path, _ in find_images([arguments.folder])][: arguments.limit]
    labs = [network_input(torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None])[0] for path in images]
    generator = torch.Generator().manual_seed(0)  # blur draws nothing random for a fixed sigma
    header = " | ".join(f"vs blur {sigma}" for sigma in BLUR_SIGMAS)
    print(f"{len(images)} clean images from {arguments.folder}; L PSNR (dB) of the output\n")
    print(f"| model | vs input | {header} |")
    print("|---|---|" + "---|" * len(BLUR_SIGMAS))
    for name in arguments.models:
        model, _ = load_model(resolve_model_path(name))
        scores = torch.zeros(1 + len(BLUR_SIGMAS))
        with torch.inference_mode():
            for lab in labs:
                network_in = lab_to_network_input(lab, model.config.chroma_input)
                clean = network_in[:, :1]
                output = model(network_in)
                row = [lightness_psnr(output, clean)]
                row += [lightness_psnr(output, blur(clean, generator, sigma)) for sigma in BLUR_SIGMAS]
                scores += torch.tensor(row)
        scores /= len(labs)
        print(f"| {name} | " + " | ".join(f"{value:.2f}" for value in scores.tolist()) + " |")


if __name__ == "__main__":
    main()
