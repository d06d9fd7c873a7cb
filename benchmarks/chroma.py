"""Choose the A/B smoothing: RGB PSNR with a perfect L, so only the chroma handling is measured.

    python benchmarks/chroma.py ../shared/data/testsets/CBSD68 [--limit 20]
    python benchmarks/chroma.py ../shared/data/testsets/CBSD68 --model skip --limit 12
    python benchmarks/chroma.py data/validation --model skip --side 384

For each test image and noise, the clean L replaces the noisy L (the best any L network could
do), the noisy A/B go through each chroma filter, and PSNR is taken on the 8-bit RGB result.
The highest mean decides ``DEFAULT_CHROMA`` in denoisecli/checkpoint.py. With ``--model`` the
L is that model's instead and each filter runs inside the whole pipeline, restore step
included, with the model's own restore settings (``pipeline.network_output_to_image``): what
``denoise`` would write with it. ``--side`` scores each photo's centre crop of that size.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from wiener import centre  # benchmarks/wiener.py, beside this script: the same centre crop

from denoisecli.checkpoint import DEFAULT_CHROMA, load_model, resolve_model_path
from denoisecli.color import lab_to_rgb, outlier_weights, rgb_to_lab, smooth_chroma
from denoisecli.evaluate import Case, corrupt_for_case, image_seed
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import color_settings
from denoisecli.metrics import psnr
from denoisecli.models import fold_batch_norm
from denoisecli.noise import clip_to_photo
from denoisecli.pipeline import network_input, network_output_to_image

CANDIDATES = {
    "none (noisy A/B)": None,
    "gaussian sigma 2": {"method": "gaussian", "sigma": 2.0},
    "gaussian sigma 3": {"method": "gaussian", "sigma": 3.0},
    "gaussian sigma 4": {"method": "gaussian", "sigma": 4.0},
    "guided r3 eps100": {"method": "guided", "radius": 3, "epsilon": 100.0},
    "guided r5 eps100": {"method": "guided", "radius": 5, "epsilon": 100.0},
    "guided r7 eps100": {"method": "guided", "radius": 7, "epsilon": 100.0},
    "guided r5 eps400": {"method": "guided", "radius": 5, "epsilon": 400.0},
    "guided r3 eps25": {"method": "guided", "radius": 3, "epsilon": 25.0},
    "guided r2 eps100": {"method": "guided", "radius": 2, "epsilon": 100.0},
    # Added in the thirteenth session: with the model's own (restored) L, a smaller regulariser won
    # on validation centre crops (docs/RESULTS.md, "A DCT Wiener filter for L").
    "guided r3 eps4": {"method": "guided", "radius": 3, "epsilon": 4.0},
    "guided r3 eps10": {"method": "guided", "radius": 3, "epsilon": 10.0},
    "guided r2 eps10": {"method": "guided", "radius": 2, "epsilon": 10.0},
    "guided r4 eps10": {"method": "guided", "radius": 4, "epsilon": 10.0},
    # Added in the fifteenth session: with the LAB noise correction (``lab_noise``) the bias no
    # longer caps what following L's edges gives (docs/RESULTS.md, "The chroma path's bias").
    "guided r3 eps2": {"method": "guided", "radius": 3, "epsilon": 2.0},
    "guided r3 eps1": {"method": "guided", "radius": 3, "epsilon": 1.0},
    "guided r4 eps4": {"method": "guided", "radius": 4, "epsilon": 4.0},
    "guided r4 eps2": {"method": "guided", "radius": 4, "epsilon": 2.0},
    "guided r5 eps4": {"method": "guided", "radius": 5, "epsilon": 4.0},
    # Added in the sixteenth session: per photo and channel, the setting with the lowest Stein's
    # unbiased risk estimate (``color.sure_guided_filter``; needs the model's ``lab_noise``).
    "risk: r3 eps100 | r4 eps2": {"method": "guided", "choose_by_risk": [[3, 100.0], [4, 2.0]]},
    "risk: r3 eps100 | r3 eps10 | r4 eps2": {
        "method": "guided",
        "choose_by_risk": [[3, 100.0], [3, 10.0], [4, 2.0]],
    },
    "risk: r2 eps100 | r3 eps100 | r3 eps10 | r4 eps2": {
        "method": "guided",
        "choose_by_risk": [[2, 100.0], [3, 100.0], [3, 10.0], [4, 2.0]],
    },
}
CASES = [
    Case("sigma15", 15.0),
    Case("sigma25", 25.0),
    Case("sigma50", 50.0),
    Case("saltpepper", None),
    Case("knockout", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_dir")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", help="score inside the whole pipeline with this model's L, not the clean L")
    parser.add_argument("--side", type=int, default=0, help="centre crop of each photo (0: whole photos)")
    parser.add_argument("--only", nargs="+", help="only these candidates (their names as in the table)")
    arguments = parser.parse_args()
    images = [path for path, _ in find_images([arguments.test_dir])][: arguments.limit]
    candidates = {
        name: settings
        for name, settings in CANDIDATES.items()
        if (settings or not arguments.model) and (arguments.model or "choose_by_risk" not in (settings or {}))
    }  # the risk's noise variance comes from the model's LAB noise step: --model only
    if arguments.only:
        unknown = set(arguments.only) - set(candidates)
        if unknown:
            parser.error(f"unknown candidates: {', '.join(sorted(unknown))}")
        candidates = {name: candidates[name] for name in arguments.only}
    scores: dict[str, dict[str, list[float]]] = {name: {case.name: [] for case in CASES} for name in candidates}
    model, restore = None, None  # restore: the model's own settings, with --model
    if arguments.model:
        model, sidecar = load_model(resolve_model_path(arguments.model))
        model = fold_batch_norm(model.eval())
        restore = color_settings(sidecar)[1]  # its own restore step, as denoise runs it
    for path in images:
        clean = centre(torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None], arguments.side)
        if clean.shape[1] != 3:
            continue  # a gray photo has no A/B to filter
        clean_lightness = rgb_to_lab(clean)[:, :1]
        for case in CASES:
            generator = torch.Generator().manual_seed(image_seed(0, path.name, case.name))
            noisy = corrupt_for_case(clean, case, generator, clip=True)
            if model is not None:
                noisy_lab, network_in = network_input(noisy, model.config.chroma_input)
                with torch.inference_mode():
                    output = model(network_in)
                for name, settings in candidates.items():
                    chroma_settings = {**DEFAULT_CHROMA, **settings}
                    restored = network_output_to_image(noisy_lab, output, chroma_settings, restore)
                    restored = clip_to_photo(restored)
                    scores[name][case.name].append(psnr(restored, clean).item())
                continue
            noisy_lab = rgb_to_lab(noisy)
            weights = outlier_weights(noisy_lab[:, :1], clean_lightness, DEFAULT_CHROMA["tolerance"])
            for name, settings in candidates.items():
                if settings is None:
                    chroma = noisy_lab[:, 1:]
                else:
                    chroma = smooth_chroma(noisy_lab[:, 1:], clean_lightness, weights, **settings)
                restored = clip_to_photo(lab_to_rgb(torch.cat([clean_lightness, chroma], dim=1)))
                scores[name][case.name].append(psnr(restored, clean).item())
    lightness = f"model {arguments.model}'s L, whole pipeline" if model is not None else "a perfect L"
    count = len(next(iter(scores.values()))[CASES[0].name])
    print(f"RGB PSNR (dB) with {lightness}, {count} colour images from {arguments.test_dir}\n")
    print("| chroma filter | " + " | ".join(case.name for case in CASES) + " | mean |")
    print("|---" * (len(CASES) + 2) + "|")
    table = {}
    for name, by_case in scores.items():
        means = [float(np.mean(by_case[case.name])) for case in CASES]
        table[name] = means
        print(f"| {name} | " + " | ".join(f"{m:.2f}" for m in means) + f" | {np.mean(means):.2f} |")
    print("\n" + json.dumps({"images": count, "cases": [c.name for c in CASES], "psnr": table, "per_image": scores}))


if __name__ == "__main__":
    main()
