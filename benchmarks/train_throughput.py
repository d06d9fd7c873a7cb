"""Training throughput per variant: patches/s and achieved TFLOP/s, on CPU or CUDA.

    python benchmarks/train_throughput.py --device cpu --steps 10
    python benchmarks/train_throughput.py --device cuda --batch-size 256 --steps 50 [--compile]
    python benchmarks/train_throughput.py --device cuda --model-config width=32,growth=1.5
    python benchmarks/train_throughput.py --loader data/train-photos --workers 4 --batch-size 256

``--loader`` times the data side alone (``RandomCrops`` through a DataLoader with ``--workers``
processes, batches moved to the device) in patches/s: when it exceeds the step's patches/s with
room to spare, the device never waits on data. ``denoisecli train`` also logs
``data_wait_fraction`` (time blocked on the loader / wall time) in ``metrics.jsonl``.

One training step = noise on the device, LAB conversion, forward, mixed loss, backward, Adam
step: what `denoisecli train` does per batch, minus data loading (which runs in DataLoader
workers in parallel). FLOPs of forward+backward are counted once with PyTorch's FlopCounterMode.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from denoisecli.data import RandomCrops, find_training_photos, to_unit, usable_photos
from denoisecli.models import VARIANTS, build_model
from denoisecli.pipeline import network_input
from denoisecli.train import TrainConfig, build_optimizer, corrupt_batch, denoising_loss


def measure(
    variant: str, device: torch.device, batch: int, crop: int, steps: int, compile_model: bool, overrides: dict
) -> dict:
    config = TrainConfig(data_dirs=[], output_dir="")
    model = build_model(variant, **overrides).to(device)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    trained = torch.compile(model) if compile_model else model
    optimizer = build_optimizer("adam", model.parameters(), 1e-3, 0.9, 0.0)
    clean = torch.rand(batch, 3, crop, crop, device=device)
    generator = torch.Generator(device=device).manual_seed(0)

    def step() -> None:
        with torch.no_grad():
            _, network_in = network_input(corrupt_batch(clean, config, generator)[1], model.config.chroma_input)
            _, target = network_input(clean)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            output = trained(network_in.contiguous(memory_format=memory_format))
        loss = denoising_loss(output, target, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 1, crop, crop, device=device)).sum().backward()
    flops_per_patch = counter.get_total_flops()
    for _ in range(3):
        step()  # warm-up (and compilation)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    patches_per_second = batch * steps / elapsed
    return {
        "variant": variant + "".join(f" {key}={value}" for key, value in overrides.items()),
        "device": str(device),
        "batch": batch,
        "crop": crop,
        "compile": compile_model,
        "gflop_per_patch": flops_per_patch / 1e9,
        "patches_per_second": patches_per_second,
        "tflops": patches_per_second * flops_per_patch / 1e12,
        "threads": torch.get_num_threads(),
    }


WARM_UP_BATCHES_PER_WORKER = 6


def loader_rate(folder: str, device: torch.device, batch: int, crop: int, batches: int, workers: int) -> dict:
    """Patches/s that ``denoisecli train``'s data side delivers to ``device``, with no model."""
    paths, _ = usable_photos(find_training_photos([folder]), crop)
    warm_up = WARM_UP_BATCHES_PER_WORKER * max(1, workers)
    crops = RandomCrops(paths, crop, seed=0, length=batch * (batches + warm_up))
    loader = DataLoader(crops, batch_size=batch, num_workers=workers, pin_memory=device.type == "cuda")
    iterator = iter(loader)
    for _ in range(warm_up):  # worker start, and each worker decoding the photos once (then cached)
        to_unit(next(iterator).to(device, non_blocking=True))
    started = time.perf_counter()
    for _ in range(batches):
        to_unit(next(iterator).to(device, non_blocking=True))
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    return {"workers": workers, "batch": batch, "crop": crop, "patches_per_second": batch * batches / elapsed}


def parse_overrides(text: str) -> dict:
    """``width=32,growth=1.5,skips=false`` -> {"width": 32, "growth": 1.5, "skips": False}."""
    overrides = {}
    for part in filter(None, text.split(",")):
        key, value = (item.strip() for item in part.split("="))
        overrides[key] = json.loads(value) if value in ("true", "false") or value[0].isdigit() else value
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--model-config", default="", help="ModelConfig overrides, e.g. width=32,growth=1.5")
    parser.add_argument("--loader", metavar="DATA_DIR", help="time the data loader alone on these photos")
    parser.add_argument("--workers", type=int, default=4)
    arguments = parser.parse_args()
    device = torch.device(arguments.device)
    batch = arguments.batch_size or (256 if device.type == "cuda" else 16)
    if arguments.loader:
        row = loader_rate(arguments.loader, device, batch, arguments.crop_size, arguments.steps, arguments.workers)
        print(f"loader: {row['patches_per_second']:.0f} patches/s with {row['workers']} workers\n" + json.dumps(row))
        return
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    overrides = parse_overrides(arguments.model_config)
    rows = [
        measure(v, device, batch, arguments.crop_size, arguments.steps, arguments.compile, overrides)
        for v in arguments.variants
    ]
    print("| variant | device | batch | GFLOP/patch (fwd+bwd) | patches/s | TFLOP/s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['device']} | {row['batch']} | {row['gflop_per_patch']:.3f} | "
            f"{row['patches_per_second']:.1f} | {row['tflops']:.3f} |"
        )
    print("\n" + json.dumps(rows))


if __name__ == "__main__":
    main()
