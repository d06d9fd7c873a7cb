"""Where the denoising pipeline's time goes: milliseconds per megapixel of each stage, same photos.

    python benchmarks/pipeline_stages.py ../shared/data/testsets/CBSD68 --threads 2 --limit 20
    python benchmarks/pipeline_stages.py data/validation --min-megapixels 1 --limit 3 --threads 1

Each stage is a function that ``inference.Denoiser`` or ``pipeline.network_output_to_image``
calls (none of them calls another of the list), timed where it is called; "other" is the rest
of the photo's time (tiles, blending, conversions between numpy and torch, small glue steps).
Photos are made noisy as ``denoise_speed.py`` makes them (Gaussian sigma 25, clipped, 8-bit);
each stage's figure is its fastest over ``--rounds`` passes over all photos, so on a shared
machine the stages' sum can fall below the fastest total. A large photo's tiles run one at a
time here, every thread on each (``inference.MAX_TILE_WORKERS`` set to 1): side by side, as
``denoise`` runs them, the stages' times would overlap and add up to more than the photo's.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import math
import time

STAGES = {
    "denoisecli.inference": ["prefill_impulses", "luma_noise", "network_input"],
    "denoisecli.pipeline": [
        "rgb_noise",
        "lab_noise",
        "lightness_correction",
        "restore_noise_level",
        "trusted_pixels",
        "dct_wiener",
        "restore_detail",
        "isolated_impulses",
        "fill_impulses",
        "outlier_weights",
        "fill_outliers",
        "corrected_chroma",
        "residual_chroma_variance",
        "sure_guided_filter",
        "filter_chroma",
        "_chroma_noise",
        "lab_to_rgb",
    ],
}


def timed_stages(spent: dict) -> None:
    """Wrap every stage where it is called, adding its seconds into ``spent``."""
    import importlib

    for module_name, names in STAGES.items():
        module = importlib.import_module(module_name)
        for name in names:
            function = getattr(module, name)

            def timed(*args, _function=function, _name=name, **kwargs):
                started = time.perf_counter()
                try:
                    return _function(*args, **kwargs)
                finally:
                    spent[_name] += time.perf_counter() - started

            setattr(module, name, functools.wraps(function)(timed))


class TimedNetwork:
    """The denoiser's network, its calls timed into ``spent["network"]``."""

    def __init__(self, model, spent: dict):
        self.model, self.spent, self.config = model, spent, model.config

    def __call__(self, x):
        started = time.perf_counter()
        try:
            return self.model(x)
        finally:
            self.spent["network"] += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--model", default="skip", help="as evaluate's --model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--min-megapixels", type=float, default=0.0, help="only the folder's photos this large")
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="auto", help="the network's dtype, as denoise's --precision")
    arguments = parser.parse_args()

    import cv2
    import torch
    from denoise_speed import photo_paths, speed_input

    from denoisecli import inference
    from denoisecli.evaluate import model_denoiser

    inference.MAX_TILE_WORKERS = 1  # one tile at a time: the module doc says why
    torch.set_num_threads(arguments.threads)
    cv2.setNumThreads(arguments.threads)
    spent = collections.defaultdict(float)
    timed_stages(spent)
    denoiser = model_denoiser(arguments.model, torch.device("cpu"), arguments.precision)
    object.__setattr__(denoiser, "model", TimedNetwork(denoiser.model, spent))  # a frozen dataclass
    paths = photo_paths(arguments.folder, arguments.limit, arguments.min_megapixels)
    photos = [speed_input(path, arguments.sigma)[1] for path in paths]
    denoiser.pixels(photos[0])  # warm-up
    megapixels = sum(photo.shape[0] * photo.shape[1] for photo in photos) / 1e6
    fastest, total = collections.defaultdict(lambda: math.inf), math.inf
    for _ in range(arguments.rounds):
        spent.clear()
        started = time.perf_counter()
        for photo in photos:
            denoiser.pixels(photo)
        total = min(total, time.perf_counter() - started)
        for stage, seconds in spent.items():
            fastest[stage] = min(fastest[stage], seconds)
    stages = {stage: seconds / megapixels * 1e3 for stage, seconds in sorted(fastest.items(), key=lambda kv: -kv[1])}
    stages["other"] = max(0.0, total / megapixels * 1e3 - sum(stages.values()))
    print(
        f"{len(photos)} photos ({megapixels:.2f} MP) from {arguments.folder}, Gaussian sigma {arguments.sigma:g}, "
        f"{arguments.threads} threads, {arguments.model}, fastest of {arguments.rounds} rounds: "
        f"{total / megapixels:.3f} s/MP in all\n"
    )
    print("| stage | ms/MP | share |\n|---|---|---|")
    for stage, milliseconds in stages.items():
        print(f"| {stage} | {milliseconds:.1f} | {milliseconds / (total / megapixels * 1e3):.1%} |")
    rounded = {stage: round(milliseconds, 2) for stage, milliseconds in stages.items()}
    print("\n" + json.dumps({"total_s_per_mp": round(total / megapixels, 4), **rounded}))


if __name__ == "__main__":
    main()
