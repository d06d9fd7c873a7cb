"""Deblurring evenly blurred photos (``denoisecli/deblur.py``): what it gains, where it triggers.

    python benchmarks/deblur.py data/validation --model skip --side 768

Each photo (its centre, at most ``--side`` px square) is blurred by each ``--blur`` width (0:
not blurred), then given Gaussian noise of each ``--noise`` sigma (0-255; 0: none; with
``--noise-first`` the noise comes first and the blur smooths it, as in-camera noise reduction or
resizing would), quantised to 8 bits with one seed per photo, and denoised by the model twice:
as its sidecar has it without deblurring, and with the deblur settings (the sidecar's, or
``DEFAULT_DEBLUR`` where it has none, changed by ``--try K=V,K=V``). Prints, per blur and
noise, the input's and both outputs' RGB PSNR (dB, on the 8-bit result, mean over photos), the
mean and smallest per-photo gain, and how many photos were deblurred.

    python benchmarks/deblur.py --time 12     # seconds per MP: the judgement and the filter

times the step alone on a synthetic smooth photo of that many megapixels instead, and

    python benchmarks/deblur.py data/train-photos data/validation --false-triggers

counts the clean photos (whole, as they are, saved as JPEG quality 85, and halved with a
bilinear filter) that the step would deblur: each one a false trigger.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.deblur import DEFAULT_DEBLUR, blur_to_undo, deblur, deblur_settings
from denoisecli.imageio import find_images, read_photo
from denoisecli.inference import Denoiser
from denoisecli.metrics import psnr
from denoisecli.noise import blur, clip_to_photo, gaussian


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="*")
    parser.add_argument("--time", type=float, default=None, metavar="MP", help="time the step on a synthetic photo")
    parser.add_argument("--false-triggers", action="store_true", help="count clean photos the step would deblur")
    parser.add_argument("--model", default="skip")
    parser.add_argument("--side", type=int, default=768)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--blur", type=float, nargs="+", default=[0.0, 0.75, 1.5, 2.25])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    parser.add_argument("--noise-first", action="store_true", help="add the noise before the blur")
    parser.add_argument("--try", dest="changes", default="", help="deblur settings changed, e.g. threshold=1.2")
    parser.add_argument("--threads", type=int, default=2)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.time:
        return time_the_step(arguments.time)
    if not arguments.folder:
        parser.error("a folder of photos is needed (or --time MP)")
    if arguments.false_triggers:
        return count_false_triggers(arguments.folder)

    path = resolve_model_path(arguments.model)
    model, sidecar = load_model(path)
    settings = deblur_settings(sidecar) or dict(DEFAULT_DEBLUR)
    for change in filter(None, arguments.changes.split(",")):
        key, value = change.split("=")
        settings[key] = float(value)
    cpu = torch.device("cpu")
    plain = Denoiser.from_model(model, cpu, sidecar, deblur=False)
    model, _ = load_model(path)
    deblurring = Denoiser.from_model(model, cpu, {**sidecar, "deblur": settings})
    print(f"model {path}, deblur settings {settings}")

    files = [source for source, _ in find_images(arguments.folder)][: arguments.limit]
    rows: dict[tuple[float, float], list[tuple[float, float, float, bool]]] = {}
    for index, source in enumerate(files):
        pixels = read_photo(source).pixels[..., :3]
        side = arguments.side
        top, left = max(0, (pixels.shape[0] - side) // 2), max(0, (pixels.shape[1] - side) // 2)
        clean = torch.from_numpy(np.ascontiguousarray(pixels[top : top + side, left : left + side]))
        clean = clean.permute(2, 0, 1)[None].float()
        for width in arguments.blur:
            for sigma in arguments.noise:
                generator = torch.Generator().manual_seed(index)
                corrupted = clean
                for step in ("noise", "blur") if arguments.noise_first else ("blur", "noise"):
                    if step == "blur" and width > 0:
                        corrupted = blur(corrupted, generator, (width, width))
                    if step == "noise" and sigma > 0:
                        corrupted = gaussian(corrupted, generator, sigma)
                corrupted = clip_to_photo(corrupted)
                noisy = corrupted[0].permute(1, 2, 0).contiguous().numpy()
                deblurred, undone = deblurring.restore_pixels(noisy)  # undone: the blur it judged, 0 for none
                scores = (_score(noisy, clean), _score(plain.pixels(noisy), clean), _score(deblurred, clean))
                rows.setdefault((width, sigma), []).append((*scores, undone > 0))
        print(f"{index + 1}/{len(files)} {source.name}", flush=True)

    print("\n| blur px | noise sigma | input | without deblur | with deblur | gain: mean | smallest | deblurred |")
    print("|---|---|---|---|---|---|---|---|")
    for (width, sigma), values in rows.items():
        table = np.array([row[:3] for row in values])
        gains = table[:, 2] - table[:, 1]
        deblurred = sum(row[3] for row in values)
        print(
            f"| {width:g} | {sigma:g} | {table[:, 0].mean():.2f} | {table[:, 1].mean():.2f} | {table[:, 2].mean():.2f} "
            f"| {gains.mean():+.3f} | {gains.min():+.3f} | {deblurred} of {len(values)} |"
        )


def count_false_triggers(folders: list[str]) -> None:
    from PIL import Image

    files = [source for source, _ in find_images(folders)]
    triggered: dict[str, list[str]] = {"as they are": [], "JPEG q85": [], "halved": []}
    for source in files:
        pixels = read_photo(source).pixels[..., :3]
        values = (pixels * 255).round().astype(np.uint8)
        eight_bit = Image.fromarray(values[..., 0] if values.shape[2] == 1 else values)  # gray stays gray
        buffer = io.BytesIO()
        eight_bit.save(buffer, "JPEG", quality=85)
        halved = eight_bit.resize((eight_bit.width // 2, eight_bit.height // 2), Image.BILINEAR)
        for name, version in (("as they are", pixels), ("JPEG q85", Image.open(buffer)), ("halved", halved)):
            array = version if isinstance(version, np.ndarray) else np.asarray(version, np.float32) / 255
            array = array[..., None] if array.ndim == 2 else array
            if blur_to_undo(array, DEFAULT_DEBLUR) > 0:
                triggered[name].append(source.name)
    for name, names in triggered.items():
        print(f"{name}: {len(names)} of {len(files)} clean photos would be deblurred {names if names else ''}")


def time_the_step(megapixels: float) -> None:
    side = int((megapixels * 1e6) ** 0.5)
    rng = np.random.default_rng(0)
    photo = blur(torch.from_numpy(rng.random((1, 3, side, side), dtype=np.float32)), torch.Generator(), 2.0)
    pixels = photo[0].permute(1, 2, 0).contiguous().numpy()
    started = time.perf_counter()
    blur_to_undo(pixels, {**DEFAULT_DEBLUR, "max_noise": 1e9, "max_smoothed_noise": 1e9})  # judged in full
    print(f"{side}x{side}: judgement {(time.perf_counter() - started) / megapixels:.3f} s/MP")
    for sigma in (1.1, 1.5, 3.0):
        started = time.perf_counter()
        deblur(pixels.copy(), sigma)
        print(f"filter at {sigma} px: {(time.perf_counter() - started) / megapixels:.3f} s/MP")


def _score(output: np.ndarray, clean: torch.Tensor) -> float:
    quantised = torch.from_numpy(np.round(output * 255) / 255).permute(2, 0, 1)[None].float()
    return float(psnr(quantised, clean).mean())


if __name__ == "__main__":
    main()
