"""``TrainConfig`` and ``fit``: the training loop, top to bottom. No rich, no typer here.

Everything random is a function of (seed, step): crop ``i`` comes from ``RandomCrops`` and the
noise of step ``s`` from a generator seeded with (seed, s). A resumed run therefore sees exactly
the batches and noise the uninterrupted run would have.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from denoisecli import distributed
from denoisecli.checkpoint import (
    DEFAULT_CHROMA,
    DEFAULT_RESTORE,
    export_model,
    load_model,
    load_training_state,
    post_steps_of,
    save_training_state,
    write_json_atomic,
)
from denoisecli.data import (
    RandomCrops,
    ShardedRange,
    find_training_photos,
    image_size,
    split_by_name,
    to_unit,
    usable_photos,
    validation_crops,
)
from denoisecli.errors import DenoiseError
from denoisecli.impulses import prefill_batch
from denoisecli.inference import color_settings
from denoisecli.metrics import psnr
from denoisecli.models import Autoencoder, build_model, widened, with_chroma_input
from denoisecli.noise import NoiseSettings, as_gray, clip_to_photo, drawn_share, gray_photos, mixed
from denoisecli.pipeline import network_input, network_output_to_image, restored_lightness
from denoisecli.plots import line_chart, stack_vertically

VALIDATION_NOISE_SEED = 1  # fixed: every run is validated on the same noisy crops
OPTIMIZERS = ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw")
SCHEDULES = ("step", "cosine", "constant")


@dataclass
class TrainConfig:
    data_dirs: list[str]
    output_dir: str
    variant: str = "skip"
    model_overrides: dict = field(default_factory=dict)  # any ModelConfig field: width, head, ...
    crop_size: int = 128
    zoom_out: int = 1  # crops from regions up to N times larger, area-averaged down (data.RandomCrops)
    min_texture: float = 0.0  # redraw most crops flatter than this high-pass RMS (0-255; 0: off)
    batch_size: int = 16  # the global batch; each of N ranks takes batch_size / N
    steps: int = 2000
    epochs: float | None = None  # if set, overrides steps: passes over the training photos' area
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    lr_step: int = 0  # step schedule: drop every N steps; 0 = after each pass over the data
    lr_drop: float = 0.3
    l1_weight: float = 0.5
    l2_weight: float = 0.5
    range_weight: float = 1.0
    # Weight of a second loss on L after the restore step (``pipeline.restored_lightness``) with
    # the --init model's sidecar settings: trains the network for what ``denoise`` writes from it.
    restore_loss: float = 0.0
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    seed: int = 0
    device: str = "auto"
    validation_every: int = 200
    validation_crops: int = 32
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 1
    threads: int | None = None  # this process's CPU threads; None: ``training_threads`` decides
    compile: bool = False
    resume: bool = False
    init_from: str | None = None  # start from these weights (.safetensors), e.g. to fine-tune
    time_limit_minutes: float | None = None  # stop after this much training time (resume adds up)

    def to_dict(self) -> dict:
        return asdict(self)


Event = Callable[[str, dict], None]


def build_optimizer(name: str, parameters, learning_rate: float, momentum: float, weight_decay: float):
    table = {
        "sgd": lambda: torch.optim.SGD(parameters, lr=learning_rate, weight_decay=weight_decay),
        "momentum": lambda: torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay),
        "adagrad": lambda: torch.optim.Adagrad(parameters, lr=learning_rate, weight_decay=weight_decay),
        "rmsprop": lambda: torch.optim.RMSprop(
            parameters, lr=learning_rate, momentum=momentum, weight_decay=weight_decay
        ),
        "adam": lambda: torch.optim.Adam(parameters, lr=learning_rate, weight_decay=weight_decay),
        "adamw": lambda: torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=weight_decay or 1e-4),
    }
    if name not in table:
        raise DenoiseError(f"unknown optimizer {name!r}; choose from {', '.join(table)}")
    return table[name]()


def build_scheduler(optimizer, name: str, steps: int, lr_step: int, lr_drop: float, steps_per_epoch: int):
    if name == "step":
        period = lr_step or steps_per_epoch
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, period), gamma=lr_drop)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, steps))
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    raise DenoiseError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")


class RunClock:
    """How far the run is, by steps or, under a time limit, by training time (whichever is further).

    A time-limited run is for a borrowed GPU: the cosine schedule follows the clock, so the rate
    has annealed when time is up however fast the machine was. Time already spent before a
    resume counts.
    """

    def __init__(self, total_steps: int, limit_minutes: float | None, elapsed_before: float = 0.0):
        self.total_steps = total_steps
        self.limit_seconds = limit_minutes * 60 if limit_minutes else None
        self.elapsed_before = elapsed_before
        self.started = time.perf_counter()
        self.fraction = 0.0

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def measure(self, step: int) -> float:
        by_steps = step / self.total_steps
        by_time = self.elapsed() / self.limit_seconds if self.limit_seconds else 0.0
        return min(1.0, max(by_steps, by_time))


def build_time_cosine(optimizer, clock: RunClock):
    """Cosine from the base rate to zero over ``clock.fraction`` (set by the loop each step)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 0.5 * (1 + math.cos(math.pi * clock.fraction)))


def out_of_range_penalty(scaled: torch.Tensor) -> torch.Tensor:
    """x^2 [x < 0] + (x - 1)^2 [x > 1] on the [0, 1] target range, averaged."""
    unit = (scaled + 1) / 2
    return (unit.clamp(max=0) ** 2 + (unit - 1).clamp(min=0) ** 2).mean()


def denoising_loss(output: torch.Tensor, target: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """Mixed L1/L2 on scaled L, plus the out-of-range penalty."""
    error = output.float() - target
    return (
        config.l1_weight * error.abs().mean()
        + config.l2_weight * error.pow(2).mean()
        + config.range_weight * out_of_range_penalty(output.float())
    )


def noise_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)


def corrupt_batch(
    clean: torch.Tensor, config: TrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, noisy) for a batch of clean crops: ``config.noise.gray_crops`` of them made gray
    photos first (``noise.gray_photos``: luma in R, G and B, one channel's noise kept in all
    three), then the noise mix, then 8-bit clipping for all but ``config.noise.unclipped`` of
    them. Training and validation crops both come through here, so a run's validation scores
    what it trains for (a gray-only run, gray crops)."""
    gray = gray_photos(clean, generator, config.noise.gray_crops)
    if gray is not None:
        clean = as_gray(clean, gray)
    noisy = mixed(clean, generator, config.noise)
    unclipped = drawn_share(noisy, generator, config.noise.unclipped)
    noisy = clip_to_photo(noisy) if unclipped is None else torch.where(unclipped, noisy, clip_to_photo(noisy))
    if gray is not None:
        noisy = as_gray(noisy, gray, channel=0)  # one channel's noise in all three
    return clean, noisy


VALIDATION_BATCH = 16


@torch.no_grad()
def corrupted_validation(
    clean: torch.Tensor, config: TrainConfig, prefill: dict | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The validation crops as ``corrupt_batch`` makes them (clean, noisy), drawn once per run,
    with ``prefill`` (``impulses.prefill_batch``) as the training crops get it.

    Drawn on the CPU: CUDA's generator gives other numbers for the same seed, and a validation
    score must mean the same on every machine.
    """
    pairs = []
    for start in range(0, clean.shape[0], VALIDATION_BATCH):
        generator = noise_generator(VALIDATION_NOISE_SEED, start, torch.device("cpu"))
        pairs.append(corrupt_batch(clean[start : start + VALIDATION_BATCH].cpu(), config, generator))
    return torch.cat([pair[0] for pair in pairs]), prefill_batch(torch.cat([pair[1] for pair in pairs]), prefill)


@torch.no_grad()
def validate(
    model: Autoencoder,
    clean: torch.Tensor,
    noisy: torch.Tensor,
    device: torch.device,
    color: tuple[dict, dict | None] = (DEFAULT_CHROMA, DEFAULT_RESTORE),
) -> float:
    """Mean RGB PSNR over the fixed validation crops, through the full colour pipeline with the
    (chroma, restore) settings ``color``."""
    model.eval()
    scores = []
    for start in range(0, clean.shape[0], VALIDATION_BATCH):
        batch = clean[start : start + VALIDATION_BATCH].to(device)
        noisy_batch = noisy[start : start + VALIDATION_BATCH].to(device)
        lab, network_in = network_input(noisy_batch, model.config.chroma_input)
        restored = network_output_to_image(lab, model(network_in).float(), *color, noisy_batch)
        scores.append(psnr(restored, batch))
    model.train()
    return float(torch.cat(scores).mean())


POST_STEPS_FILE = "post_steps.json"  # a --restore-loss run's inherited blocks, kept for --resume


def post_steps(config: TrainConfig, run_dir: Path) -> dict:
    """The sidecar blocks a --restore-loss run trains through and exports: the --init model's
    ``color`` and ``deblur`` (where it has them; none without --restore-loss). The run directory
    keeps them, so a resumed run trains through the same steps without --init. Raises
    ``DenoiseError`` if there is neither a kept copy nor an --init to take them from."""
    if config.restore_loss <= 0:
        return {}
    kept = run_dir / POST_STEPS_FILE
    if config.resume and kept.exists():
        return json.loads(kept.read_text())
    if not config.init_from:
        raise DenoiseError("--restore-loss trains through the post steps of the --init model; give --init")
    sidecar = load_model(config.init_from)[1]
    return post_steps_of(sidecar)


def fit(config: TrainConfig, on_event: Event | None = None) -> dict:
    """Train ``config.variant``; write checkpoints, metrics and the exported best model.

    Returns a summary dict. Raises ``DenoiseError`` for bad input and for a NaN loss (the last
    good checkpoint stays on disk).
    """
    emit = on_event or (lambda kind, payload: None)
    rank = distributed.current_rank()
    device = distributed.device_for(config.device, rank)
    rank = distributed.start(device)
    previous_threads = torch.get_num_threads()
    threads = training_threads(config, device)
    if threads:
        torch.set_num_threads(threads)
    try:
        return _fit(config, emit, rank, device)
    finally:
        torch.set_num_threads(previous_threads)
        distributed.stop()


def training_threads(config: TrainConfig, device: torch.device) -> int | None:
    """The CPU threads a training process computes with: ``config.threads``, else one beside a
    GPU and PyTorch's choice (a thread per core) on the CPU.

    Beside a GPU the process's own CPU work is small (the loop, validation's chroma filter), while
    DataLoader workers and other runs keep the cores busy, and a pool of a thread per core then
    waits more than it works: on this 2-core CPU with both cores busy, small per-crop work (the
    fill before the network as it ran then) took 57 ms a batch on one thread and 180 ms on two,
    against 49 and 48 with the CPU idle (docs/RESULTS.md, "A third GPU session"). torchrun sets
    one thread per process for the same reason."""
    if config.threads is not None:
        return config.threads
    return 1 if device.type == "cuda" else None


def _fit(config: TrainConfig, emit: Event, rank: distributed.Rank, device: torch.device) -> dict:
    run_dir = Path(config.output_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):  # unique per process: ranks probe at once
            pass
    except OSError as error:
        raise DenoiseError(f"{run_dir}: cannot write the run directory ({error.strerror})") from None
    if config.batch_size % rank.world:
        raise DenoiseError(f"batch size {config.batch_size} does not divide over {rank.world} processes")

    photos = find_training_photos(config.data_dirs)
    usable, small = usable_photos(photos, config.crop_size)
    if small:
        emit("warning", {"message": f"skipping {len(small)} photo(s) smaller than the {config.crop_size}px crop"})
    split = split_by_name(usable, config.validation_fraction, config.test_fraction)
    if not split["train"]:
        raise DenoiseError(f"no training photos at least {config.crop_size}px on both sides")
    if rank.is_main:
        write_json_atomic(run_dir / "split.json", {name: [str(p) for p in paths] for name, paths in split.items()})
        write_json_atomic(run_dir / "config.json", config.to_dict())

    torch.manual_seed(config.seed)  # weight initialisation is the same on every rank
    model = build_model(config.variant, **config.model_overrides).to(device)
    # channels_last feeds tensor cores on CUDA. On CPU, PyTorch 2.13's oneDNN backward crashes
    # (double free) for layers under 8 channels in channels_last, so CPU training stays NCHW.
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # one crop size all run: autotuning pays off
    optimizer = build_optimizer(
        config.optimizer, model.parameters(), config.learning_rate, config.momentum, config.weight_decay
    )
    pixels_per_pass = sum(math.prod(image_size(path)) for path in split["train"])
    steps_per_epoch = max(1, math.ceil(pixels_per_pass / (config.crop_size**2 * config.batch_size)))
    total_steps = math.ceil(config.epochs * steps_per_epoch) if config.epochs else config.steps
    if total_steps < 1:
        raise DenoiseError("nothing to train: --steps or --epochs must be positive")
    start_step, best_psnr, elapsed_before = 0, -math.inf, 0.0
    if config.resume:
        state = load_training_state(run_dir / "last.pt")
        start_step, best_psnr = int(state["step"]), float(state["best_psnr"])
        elapsed_before = float(state.get("elapsed_seconds", 0.0))
    clock = RunClock(total_steps, config.time_limit_minutes, elapsed_before)
    if config.time_limit_minutes and config.schedule == "cosine":
        scheduler = build_time_cosine(optimizer, clock)
    else:
        scheduler = build_scheduler(
            optimizer, config.schedule, total_steps, config.lr_step, config.lr_drop, steps_per_epoch
        )
    if config.init_from and not config.resume:
        initial, sidecar = load_model(config.init_from)
        if model.config.chroma_input:
            initial = with_chroma_input(initial)  # an L-only model grows the A/B inputs, zero-weighted
        if sidecar["variant"] == config.variant and initial.config != model.config:
            try:  # a narrower model of the same shape grows, its new channels weighted zero out
                initial = widened(initial, model.config, config.seed)
            except ValueError:
                pass  # not only narrower: refused just below
        if sidecar["variant"] != config.variant or initial.config != model.config:
            raise DenoiseError(f"{config.init_from}: its model config differs from this run's ({config.variant})")
        model.load_state_dict(initial.state_dict())
        emit("initialised", {"from": config.init_from})
    if config.resume:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        emit("resumed", {"step": start_step})

    trained: nn.Module = model
    if rank.distributed:
        trained = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if config.compile:
        trained = torch.compile(trained)

    # With --restore-loss the run trains and validates through the --init model's post steps,
    # and its exported model keeps them; otherwise the defaults, as before.
    inherited = post_steps(config, run_dir)
    if inherited and rank.is_main:
        write_json_atomic(run_dir / POST_STEPS_FILE, inherited)
    color = color_settings(inherited)  # the defaults where nothing is inherited
    # An inherited sidecar that fills impulses before its network (``impulses``) gets crops
    # filled the same way: the network is trained on what ``denoise`` will hand it.
    prefill = color[1].get("prefill_impulses") if color[1] else None
    validation = None
    if split["validation"]:
        clean_validation = validation_crops(
            split["validation"], config.crop_size, config.validation_crops, config.zoom_out, config.min_texture
        )
        validation = corrupted_validation(clean_validation, config, prefill)
    per_rank = config.batch_size // rank.world
    crops = RandomCrops(
        split["train"],
        config.crop_size,
        config.seed,
        total_steps * config.batch_size,
        config.zoom_out,
        config.min_texture,
    )
    loader = DataLoader(
        crops,
        batch_size=per_rank,
        sampler=ShardedRange(start_step * config.batch_size, total_steps * config.batch_size, rank.rank, rank.world),
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    use_bf16 = device.type == "cuda"
    metrics_file = run_dir / "metrics.jsonl"
    emit(
        "start",
        {
            "device": str(device),
            "world": rank.world,
            "start_step": start_step,
            "steps": total_steps,
            "train_photos": len(split["train"]),
            "validation_photos": len(split["validation"]),
            "steps_per_epoch": steps_per_epoch,
        },
    )
    model.train()
    step, window_start, window_patches, window_loss = start_step, time.perf_counter(), 0, 0.0
    window_data_wait = 0.0
    batches = iter(loader)
    while True:
        # Time spent blocked on the loader is time the device sits idle: the loss.item() below
        # has already drained its queue. Reported per window as data_wait_fraction.
        fetch_start = time.perf_counter()
        clean = next(batches, None)
        window_data_wait += time.perf_counter() - fetch_start
        if clean is None:
            break
        clean = to_unit(clean.to(device, non_blocking=True))
        # Rank r draws its noise from its own stream so ranks do not repeat one another.
        generator = noise_generator(config.seed, step * rank.world + rank.rank, device)
        with torch.no_grad():
            clean, noisy = corrupt_batch(clean, config, generator)
            noisy = prefill_batch(noisy, prefill)
            noisy_lab, network_in = network_input(noisy, model.config.chroma_input)
            _, target = network_input(clean)  # L: the network's output
        network_in = network_in.contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            output = trained(network_in)
        loss = denoising_loss(output, target, config)
        if config.restore_loss > 0:
            restored = restored_lightness(noisy_lab, output.float(), color[1], noisy).output
            loss = loss + config.restore_loss * denoising_loss(restored, target, config)
        if not torch.isfinite(loss):
            raise DenoiseError(
                f"loss became {loss.item()} at step {step}; lower --lr. "
                f"The last good checkpoint is {run_dir / 'last.pt'}"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        out_of_time = False
        if clock.limit_seconds is not None:
            # Rank 0's clock decides for everyone, so all ranks take the same rates and stop together.
            clock.fraction = distributed.from_main(clock.measure(step), device)
            out_of_time = clock.fraction >= 1.0
        scheduler.step()
        window_patches += clean.shape[0] * rank.world
        window_loss += loss.item()
        record = {"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0]}
        if step % config.validation_every == 0 or step == total_steps or out_of_time:
            elapsed = time.perf_counter() - window_start
            record["patches_per_second"] = window_patches / max(elapsed, 1e-9)
            record["mean_loss"] = window_loss / max(1, window_patches // (clean.shape[0] * rank.world))
            record["data_wait_fraction"] = window_data_wait / max(elapsed, 1e-9)
            if rank.is_main:
                if validation is not None:
                    record["validation_psnr"] = validate(model, *validation, device, color)
                best_psnr = _save(
                    model,
                    optimizer,
                    scheduler,
                    config,
                    run_dir,
                    step,
                    record,
                    best_psnr,
                    clock.elapsed(),
                    inherited,
                )
                with metrics_file.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                _plot_curves(metrics_file, run_dir / "curves.png")
            window_start, window_patches, window_loss, window_data_wait = time.perf_counter(), 0, 0.0, 0.0
        emit("step", record)
        if out_of_time:
            break
    summary = {
        "steps": step,
        "training_seconds": round(clock.elapsed(), 1),
        "best_validation_psnr": best_psnr,
        "run_dir": str(run_dir),
        "model": str(run_dir / "model.safetensors"),
    }
    emit("done", summary)
    return summary


def _save(
    model: Autoencoder,
    optimizer,
    scheduler,
    config: TrainConfig,
    run_dir: Path,
    step: int,
    record: dict,
    best_psnr: float,
    elapsed_seconds: float,
    inherited: dict | None = None,
) -> float:
    """Write ``last.pt`` always; ``best.pt`` and the exported model when validation improves
    (its sidecar with the ``inherited`` blocks, ``post_steps``, in place of the defaults)."""
    score = record.get("validation_psnr", -record["loss"])
    improved = score > best_psnr
    best_psnr = max(best_psnr, score)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "best_psnr": best_psnr,
        "elapsed_seconds": elapsed_seconds,
    }
    save_training_state(run_dir / "last.pt", state)
    if improved:
        save_training_state(run_dir / "best.pt", state)
        model.eval()
        export_model(
            model,
            run_dir / "model.safetensors",
            config.variant,
            {
                "training": {
                    "step": step,
                    "validation_psnr": record.get("validation_psnr"),
                    "loss": record["loss"],
                    "optimizer": config.optimizer,
                    "learning_rate": config.learning_rate,
                    "batch_size": config.batch_size,
                    "crop_size": config.crop_size,
                    "zoom_out": config.zoom_out,
                    "min_texture": config.min_texture,
                    "seed": config.seed,
                    "data": config.data_dirs,
                    "noise": asdict(config.noise),  # the mix, the ranges, the gray and unclipped shares
                    **({"init": config.init_from} if config.init_from else {}),
                    **({"restore_loss": config.restore_loss} if config.restore_loss else {}),
                },
            },
            inherited,
        )
        model.train()
    return best_psnr


def _plot_curves(metrics_file: Path, destination: Path) -> None:
    records = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    loss = [(r["step"], r.get("mean_loss", r["loss"])) for r in records]
    scores = [(r["step"], r["validation_psnr"]) for r in records if "validation_psnr" in r]
    chart = stack_vertically(
        [
            line_chart({"training loss": loss}, "loss"),
            line_chart({"validation PSNR (dB)": scores}, "validation RGB PSNR"),
        ]
    )
    chart.save(destination)
