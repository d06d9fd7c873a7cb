"""The Typer app. Each command parses, calls one library function and renders with rich.

Library modules are imported inside command bodies so ``denoisecli --help`` never imports torch.
Results go to stdout; progress, device and warnings to stderr. ``DenoiseError`` becomes
``Error: ...`` and exit 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="denoisecli",
    help="Denoise photos with a learned convolutional autoencoder; train your own; evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
stdout = Console()
stderr = Console(stderr=True)

DEFAULT_MAX_MEGAPIXELS = 250.0  # mirrors imageio's default without importing it here

# The choice enums below repeat the library's tuples (models.HEADS, train.OPTIMIZERS, ...) because
# importing those modules imports torch, which --help must not; tests/test_cli.py checks they agree.


class Noise(StrEnum):
    gaussian = "gaussian"
    saltpepper = "saltpepper"
    blur = "blur"
    knockout = "knockout"
    mixed = "mixed"


class Variant(StrEnum):
    skip = "skip"
    noskip = "noskip"
    shallow = "shallow"


class Optimizer(StrEnum):
    sgd = "sgd"
    momentum = "momentum"
    adagrad = "adagrad"
    rmsprop = "rmsprop"
    adam = "adam"
    adamw = "adamw"


class Schedule(StrEnum):
    step = "step"
    cosine = "cosine"
    constant = "constant"


class Head(StrEnum):
    residual = "residual"
    tanh = "tanh"


class SkipOrder(StrEnum):
    before = "before"
    after = "after"


# inference.PRECISIONS, written out so --help never imports torch.
class Precision(StrEnum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"


PRECISION_HELP = "The network's dtype. auto: bfloat16 on CUDA and on CPUs with bfloat16 instructions (faster)."


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


def fail(message: str) -> typer.Exit:
    stderr.print(f"[red]Error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


UNBOUNDED_STEPS = 10**12


def _progress(quiet: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=quiet,
        transient=False,
    )


def _run_batch(jobs, work, overwrite: bool, quiet: bool, label: str):
    """Run jobs with a progress bar over files and megapixels; report failures; return summary."""
    import time

    from denoisecli.batch import run_jobs

    started = time.perf_counter()
    megapixels = [0.0]
    with _progress(quiet or len(jobs) < 2) as progress:
        task = progress.add_task(label, total=len(jobs), rate="")

        def advance(job, done_megapixels):
            megapixels[0] += done_megapixels
            elapsed = time.perf_counter() - started
            progress.update(task, advance=1, rate=f"{megapixels[0]:.1f} MP, {megapixels[0] / elapsed:.2f} MP/s")

        summary = run_jobs(jobs, work, overwrite=overwrite, on_progress=advance)
    return summary


def _finish(summary, quiet: bool) -> None:
    for _source, message in summary.failures:
        stderr.print(f"[red]Error:[/red] {message}", highlight=False, soft_wrap=True)
    if not quiet:
        stderr.print(summary.line(), highlight=False)
    if summary.failures:
        raise typer.Exit(1)


@app.command()
def corrupt(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT", help="Image files, folders or quoted globs.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output file (one input) or folder.")],
    noise: Annotated[Noise, typer.Option(help="Which corruption to apply.")] = Noise.gaussian,
    sigma: Annotated[
        str | None, typer.Option(help="Gaussian sigma (0-255 scale) or blur sigma (pixels); LOW,HIGH draws per image.")
    ] = None,
    amount: Annotated[float | None, typer.Option(help="Salt-and-pepper fraction, or knockout density.")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same files, byte for byte.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace outputs that already exist.")] = False,
    max_megapixels: Annotated[float, typer.Option(help="Refuse images larger than this.")] = DEFAULT_MAX_MEGAPIXELS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
) -> None:
    """Add noise to photos in RGB: lossless PNG out, reproducible with --seed.

    Example: denoisecli corrupt photos/ -o noisy/ --noise gaussian --sigma 25 --seed 1
    """
    from dataclasses import replace

    from denoisecli.batch import plan_jobs
    from denoisecli.corrupt import corrupt_file, file_generator, parse_range
    from denoisecli.errors import DenoiseError
    from denoisecli.noise import NoiseSettings

    try:
        settings = NoiseSettings()
        if sigma is not None:
            field = "blur_sigma" if noise == Noise.blur else "gaussian_sigma"
            settings = replace(settings, **{field: parse_range(sigma)})
        elif noise == Noise.gaussian:
            settings = replace(settings, gaussian_sigma=25.0)
        if amount is not None:
            field = "knockout_density" if noise == Noise.knockout else "saltpepper_amount"
            settings = replace(settings, **{field: amount})
        jobs = plan_jobs(inputs, output, suffix="", extension=".png")
        if not jobs:
            raise DenoiseError(f"no images found in {', '.join(inputs)}")

        def work(job):
            generator = file_generator(seed, job.source.name)
            return corrupt_file(job.source, job.destination, noise.value, settings, generator, max_megapixels)

        summary = _run_batch(jobs, work, overwrite, quiet, f"corrupt ({noise.value})")
    except DenoiseError as error:
        raise fail(str(error)) from None
    _finish(summary, quiet)


@app.command()
def denoise(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT", help="Image files, folders or quoted globs.")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Output file (one input) or folder; default: beside, *_denoised."),
    ] = None,
    model: Annotated[
        str, typer.Option(help="Shipped weights (skip, noskip, shallow) or a .safetensors path.")
    ] = "skip",
    device: Annotated[Device, typer.Option(help="auto: cuda, then mps, then cpu.")] = Device.auto,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: PyTorch's choice).")] = None,
    precision: Annotated[Precision, typer.Option(help=PRECISION_HELP)] = Precision.auto,
    # 768 = inference.DEFAULT_TILE, written out so --help never imports torch.
    tile: Annotated[
        int,
        typer.Option(help="Tile size in pixels; memory scales with it (a CPU runs up to 4 tiles side by side)."),
    ] = 768,
    strength: Annotated[
        float,
        typer.Option(
            help="Detail kept vs noise removed: 1 adapts to each photo, higher smooths more, inf = raw model."
        ),
    ] = 1.0,
    ensemble: Annotated[
        int,
        typer.Option(help="Average the network over 1, 2, 4 or 8 flips of each image: cleaner, slower (8: about 4x)."),
    ] = 1,
    deblur: Annotated[
        bool,
        typer.Option(help="Sharpen a noise-free photo that is blurred evenly all over (as the weights' sidecar says)."),
    ] = True,
    bit_depth: Annotated[int | None, typer.Option(help="Force 8 or 16 bits (default: the input's).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace outputs that already exist (never the input).")] = False,
    recursive: Annotated[bool, typer.Option(help="Descend into sub-folders.")] = True,
    max_megapixels: Annotated[float, typer.Option(help="Refuse images larger than this.")] = DEFAULT_MAX_MEGAPIXELS,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
) -> None:
    """Denoise photos: files, folders (tree mirrored) or globs.

    Example: denoise photo.jpg -o clean.jpg
    """
    import torch

    from denoisecli import distributed
    from denoisecli.batch import plan_jobs, shard
    from denoisecli.checkpoint import resolve_model_path
    from denoisecli.errors import DenoiseError
    from denoisecli.inference import ENSEMBLES, Denoiser, denoise_file

    try:
        if ensemble not in ENSEMBLES:
            raise DenoiseError(f"--ensemble must be 1, 2, 4 or 8, got {ensemble}")
        if bit_depth not in (None, 8, 16):
            raise DenoiseError(f"--bit-depth must be 8 or 16, got {bit_depth}")
        if tile < 64:
            raise DenoiseError(f"--tile must be at least 64, got {tile}")
        if not strength >= 0:
            raise DenoiseError(f"--strength must be 0 or more (inf for the raw model), got {strength}")
        if threads:
            torch.set_num_threads(threads)
        rank = distributed.current_rank()
        jobs = plan_jobs(inputs, output, suffix="_denoised", recursive=recursive)
        if not jobs:
            raise DenoiseError(f"no images found in {', '.join(inputs)}")
        torch_device = distributed.device_for(device.value, rank)
        denoiser = Denoiser.load(resolve_model_path(model), torch_device, strength, ensemble, deblur, precision.value)
        mine = shard(jobs, rank.rank, rank.world)
        prefix = f"rank {rank.rank}/{rank.world}: " if rank.distributed else ""
        if not quiet:
            variant = denoiser.metadata.get("variant", "?")
            on = f"{torch_device}, {str(denoiser.dtype).removeprefix('torch.')}"
            companion = f", gray photos by {denoiser.metadata['gray_model']}" if denoiser.gray else ""
            stderr.print(f"{prefix}{len(mine)} image(s), model {variant}{companion} on {on}", highlight=False)

        deblurred = []

        def work(job):
            megapixels, blur = denoise_file(denoiser, job.source, job.destination, tile, bit_depth, max_megapixels)
            if blur:
                deblurred.append(str(job.source))
            return megapixels

        summary = _run_batch(mine, work, overwrite, quiet, f"{prefix}denoise")
        summary.deblurred = deblurred
        if rank.distributed:
            summary = _combine_summaries(summary, torch_device)
    except DenoiseError as error:
        raise fail(str(error)) from None
    _finish(summary, quiet)


def _combine_summaries(summary, device):
    """Gather every rank's summary so each prints the combined line (rank 0 is enough to read)."""
    import torch.distributed as dist

    from denoisecli import distributed
    from denoisecli.batch import Summary

    distributed.start(device)
    gathered = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, summary)
    distributed.stop()
    combined = Summary()
    for part in gathered:
        combined.merge(part)
    return combined


@app.command()
def train(
    data: Annotated[list[Path], typer.Argument(metavar="DATA_DIR", help="Folders of clean photos.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory (checkpoints, metrics, model).")],
    model: Annotated[Variant, typer.Option(help="Autoencoder variant.")] = Variant.skip,
    head: Annotated[Head, typer.Option(help="tanh (a*(tanh(x)+b)) or residual (predict the noise).")] = Head.tanh,
    noise_map: Annotated[
        bool, typer.Option(help="Feed the model its input's estimated noise level (blind: no sigma asked).")
    ] = False,
    chroma_input: Annotated[
        bool, typer.Option(help="Feed the model the noisy A/B beside L (it still outputs L); --init grows them.")
    ] = False,
    width: Annotated[
        int | None,
        typer.Option(help="Channels at full width (variant default if unset); --init can be narrower."),
    ] = None,
    levels: Annotated[int | None, typer.Option(help="Encoder/decoder blocks (variant default if unset).")] = None,
    growth: Annotated[
        float | None,
        typer.Option(help="Channel growth per level (variant default if unset); --init can be narrower."),
    ] = None,
    layers: Annotated[int | None, typer.Option(help="Conv/BN/ReLU layers per block (variant default).")] = None,
    unshuffle: Annotated[
        int | None, typer.Option(help="Pixel-unshuffle factor: the network works at 1/N resolution.")
    ] = None,
    skip_order: Annotated[
        SkipOrder | None,
        typer.Option(help="Stack skips after the decoder's upsampling (U-Net; skip's default) or before it."),
    ] = None,
    crop_size: Annotated[int, typer.Option(help="Training crop size in pixels.")] = 128,
    zoom_out: Annotated[
        int, typer.Option(help="Take each crop from a region 1..N times larger, area-averaged down (more texture).")
    ] = 1,
    min_texture: Annotated[
        float, typer.Option(help="Redraw most crops flatter than this high-pass RMS (0-255 scale; 0: off).")
    ] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Crops per step, over all processes.")] = 16,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    epochs: Annotated[
        float | None, typer.Option(help="Passes over the training photos' area (instead of --steps).")
    ] = None,
    optimizer: Annotated[Optimizer, typer.Option(help="Optimizer.")] = Optimizer.adam,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-3,
    schedule: Annotated[Schedule, typer.Option(help="Learning-rate schedule.")] = Schedule.cosine,
    lr_step: Annotated[int, typer.Option(help="step schedule: drop every N steps (0: after each pass).")] = 0,
    lr_drop: Annotated[float, typer.Option(help="step schedule: multiply by this (0.1 or 0.3).")] = 0.3,
    l1: Annotated[float, typer.Option(help="L1 loss weight.")] = 0.5,
    l2: Annotated[float, typer.Option(help="L2 loss weight.")] = 0.5,
    range_penalty: Annotated[float, typer.Option(help="Out-of-range penalty weight.")] = 1.0,
    restore_loss: Annotated[
        float,
        typer.Option(
            help="Weight of a second loss on L after the restore step, run with the --init model's "
            "settings (trains for what denoise writes; 0: off)."
        ),
    ] = 0.0,
    gaussian_sigma: Annotated[str, typer.Option(help="Gaussian sigma range LOW,HIGH (0-255).")] = "0,55",
    saltpepper_amount: Annotated[float, typer.Option(help="Salt-and-pepper fraction.")] = 0.05,
    blur_sigma: Annotated[str, typer.Option(help="Blur sigma range LOW,HIGH (< 3).")] = "0.5,3",
    knockout_density: Annotated[float, typer.Option(help="Knockout coverage.")] = 0.05,
    noise_mix: Annotated[str, typer.Option(help="Odds of clean,gaussian,saltpepper,blur,knockout.")] = "1,4,1,1,1",
    gray_noise: Annotated[
        float, typer.Option(help="Share of Gaussian noise drawn the same in R, G and B (a gray photo's).")
    ] = 0.0,
    gray_crops: Annotated[
        float, typer.Option(help="Share of crops made gray photos: luma in R, G and B, noise the same in all three.")
    ] = 0.0,
    unclipped_noise: Annotated[
        float,
        typer.Option(
            help="Share of crops whose noise stays float, unclipped and unquantised (the papers' AWGN "
            "protocol); the rest are clipped to 8 bits as a saved photo is."
        ),
    ] = 0.0,
    validation_every: Annotated[int, typer.Option(help="Validate and checkpoint every N steps.")] = 200,
    validation_fraction: Annotated[float, typer.Option(help="Share of photos held out for validation.")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Share of photos held out for testing.")] = 0.1,
    workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 1,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads of the training process (default: 1 on a GPU, else all).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for weights, crops and noise.")] = 0,
    device: Annotated[Device, typer.Option(help="auto: cuda, then mps, then cpu.")] = Device.auto,
    compile: Annotated[bool, typer.Option(help="torch.compile the model.")] = False,
    resume: Annotated[bool, typer.Option(help="Continue the run in --output from its last checkpoint.")] = False,
    init: Annotated[Path | None, typer.Option(help="Start from these weights (.safetensors) to fine-tune.")] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop after this many minutes; cosine then follows the clock. For borrowed GPUs."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train an autoencoder on folders of clean photos; export the best model.

    Example: denoisecli train photos/ --model skip --steps 20000 -o runs/skip
    """
    from denoisecli.corrupt import parse_range
    from denoisecli.errors import DenoiseError
    from denoisecli.noise import NoiseSettings
    from denoisecli.train import TrainConfig, fit

    try:
        overrides = {"head": head.value, "noise_map": noise_map, "chroma_input": chroma_input}
        if width is not None:
            overrides["width"] = width
        for field, value in (("levels", levels), ("growth", growth), ("scale", layers), ("unshuffle", unshuffle)):
            if value is not None:
                overrides[field] = value
        if skip_order is not None:
            overrides["skip_order"] = skip_order.value
        mix = tuple(float(part) for part in noise_mix.split(","))
        if len(mix) != 5:
            raise DenoiseError("--noise-mix takes five numbers: clean,gaussian,saltpepper,blur,knockout")
        for name, share in (
            ("--gray-noise", gray_noise),
            ("--gray-crops", gray_crops),
            ("--unclipped-noise", unclipped_noise),
        ):
            if not 0 <= share <= 1:
                raise DenoiseError(f"{name} must be between 0 and 1, got {share:g}")
        noise = NoiseSettings(
            parse_range(gaussian_sigma),
            saltpepper_amount,
            parse_range(blur_sigma),
            knockout_density,
            9,
            mix,
            gray_noise,
            gray_crops,
            unclipped_noise,
        )
        config = TrainConfig(
            data_dirs=[str(path) for path in data],
            output_dir=str(output),
            variant=model.value,
            model_overrides=overrides,
            crop_size=crop_size,
            zoom_out=zoom_out,
            min_texture=min_texture,
            batch_size=batch_size,
            # Under --time-limit alone the clock ends the run, so the step count is unbounded.
            steps=steps or (UNBOUNDED_STEPS if time_limit and not epochs else 2000),
            optimizer=optimizer.value,
            learning_rate=lr,
            schedule=schedule.value,
            lr_step=lr_step,
            lr_drop=lr_drop,
            l1_weight=l1,
            l2_weight=l2,
            range_weight=range_penalty,
            restore_loss=restore_loss,
            noise=noise,
            seed=seed,
            device=device.value,
            validation_every=validation_every,
            validation_fraction=validation_fraction,
            test_fraction=test_fraction,
            workers=workers,
            threads=threads,
            compile=compile,
            resume=resume,
            epochs=epochs,
            init_from=str(init) if init else None,
            time_limit_minutes=time_limit,
        )
        summary = _train_with_progress(config, fit, quiet)
    except DenoiseError as error:
        raise fail(str(error)) from None
    stdout.print_json(data=summary)


def _train_with_progress(config, fit, quiet: bool) -> dict:
    from denoisecli import distributed

    quiet = quiet or not distributed.current_rank().is_main
    with _progress(quiet) as progress:
        task = progress.add_task("train", total=None, rate="")

        def on_event(kind: str, payload: dict) -> None:
            if kind == "start":
                total = payload["steps"] if payload["steps"] < UNBOUNDED_STEPS else None
                progress.update(task, total=total, completed=payload["start_step"])
                if not quiet:
                    stderr.print(
                        f"training on {payload['device']} x{payload['world']}: {payload['train_photos']} train / "
                        f"{payload['validation_photos']} validation photos, "
                        f"{payload['steps_per_epoch']} steps per pass",
                        highlight=False,
                    )
            elif kind == "step":
                rate = payload.get("patches_per_second")
                text = f"loss {payload['loss']:.4f} lr {payload['lr']:.2e}"
                if rate:
                    text += f" {rate:.0f} patches/s"
                if payload.get("data_wait_fraction", 0) >= 0.05:
                    text += f" (waiting on data {payload['data_wait_fraction']:.0%}: add --workers)"
                if "validation_psnr" in payload:
                    text += f" val {payload['validation_psnr']:.2f} dB"
                progress.update(task, completed=payload["step"], rate=text)
            elif kind == "warning" and not quiet:
                stderr.print(f"[yellow]Warning:[/yellow] {payload['message']}", highlight=False)

        return fit(config, on_event)


class Protocol(StrEnum):
    seed = "seed"
    awgn = "awgn"


class AwgnNoise(StrEnum):
    float = "float"
    clipped = "clipped"


@app.command()
def evaluate(
    test_dir: Annotated[Path, typer.Argument(metavar="TEST_DIR", help="Folder of clean test images.")],
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="Shipped variant or .safetensors path, @STRENGTH (skip@inf: raw) and @xN (ensemble) optional; repeat."
        ),
    ] = None,
    baseline: Annotated[list[str] | None, typer.Option(help="input (no-op), nlm, median, ffdnet; repeat.")] = None,
    protocol: Annotated[Protocol, typer.Option(help="seed: five inputs per image; awgn: the literature's.")] = (
        Protocol.seed
    ),
    sigma: Annotated[list[str] | None, typer.Option(help="Gaussian sigma(s), 0-255; repeat or 15,25,50.")] = None,
    awgn_noise: Annotated[AwgnNoise, typer.Option(help="awgn: float (unclipped, as papers) or clipped.")] = (
        AwgnNoise.float
    ),
    seed: Annotated[int, typer.Option(help="Seed for the noisy inputs.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Only the first N images.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Report folder: JSON, Markdown, panel.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")] = False,
    device: Annotated[Device, typer.Option(help="auto: cuda, then mps, then cpu.")] = Device.auto,
    threads: Annotated[int | None, typer.Option(help="CPU threads for models and baselines.")] = None,
    precision: Annotated[Precision, typer.Option(help=PRECISION_HELP)] = Precision.auto,
    gray: Annotated[
        bool, typer.Option(help="Score in gray: colour photos as luma, gray noise (the papers' BSD68/Set12 protocol).")
    ] = False,
    psnr_cap: Annotated[
        float | None,
        typer.Option(help="Cap each PSNR at this (dB), per image and case, before means (48: ~1 level RMS)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score models and classical baselines side by side on the same noisy inputs.

    Example: denoisecli evaluate testsets/CBSD68 --model skip --model noskip --model shallow --baseline nlm
    """
    import json

    from denoisecli.errors import DenoiseError

    try:
        import torch

        from denoisecli import distributed
        from denoisecli.evaluate import evaluate as run_evaluation
        from denoisecli.report import to_json, write_report

        if threads:
            torch.set_num_threads(threads)
            import cv2

            cv2.setNumThreads(threads)
        sigmas = [float(part) for item in (sigma or []) for part in item.split(",") if part]
        torch_device = distributed.device_for(device.value, distributed.current_rank())
        with _progress(quiet) as progress:
            task = progress.add_task("evaluate", total=None, rate="")
            report = run_evaluation(
                test_dir,
                model or [],
                baseline or [],
                protocol.value,
                sigmas,
                seed,
                awgn_noise.value,
                torch_device,
                limit,
                output,
                on_image=lambda name: progress.update(task, advance=1, rate=name),
                psnr_cap=psnr_cap,
                precision=precision.value,
                gray=gray,
            )
        if output is not None:
            write_report(report, output)
    except (DenoiseError, ValueError) as error:
        raise fail(str(error)) from None
    if json_output:
        stdout.print_json(json.dumps(to_json(report)))
    else:
        stdout.print(_results_table(report))


def _results_table(report):
    from rich.table import Table

    cap = report.details.get("psnr_cap")
    title = f"{report.protocol} protocol, {report.details['images']} images ({report.details['noise']})"
    if report.details.get("colour", "RGB") != "RGB":
        title += f", {report.details['colour']}"
    if report.details.get("network_dtype"):
        title += f", network in {report.details['network_dtype']}"
    table = Table(title=title + (f", PSNR capped at {cap:g} dB" if cap is not None else ""))
    columns = ["method", "case", "PSNR (dB)", *(["uncapped"] if cap is not None else []), "SSIM", "s/MP"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("method", "case") else "right")
    for row in report.rows():
        speed = f"{row['seconds_per_megapixel']:.3f}" if row["seconds_per_megapixel"] is not None else ""
        uncapped = [f"{row['psnr_mean_uncapped']:.2f}"] if cap is not None else []
        table.add_row(
            row["method"],
            row["case"],
            f"{row['psnr_mean']:.2f} ± {row['psnr_std']:.2f}",
            *uncapped,
            f"{row['ssim_mean']:.4f}",
            speed,
        )
    return table


def main() -> None:
    app()


def denoise_main() -> None:
    """The ``denoise`` console script: the very same command function as ``denoisecli denoise``."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(denoise)
    single()
