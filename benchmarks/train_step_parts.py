"""Where a training step's time goes, part by part, on CPU or CUDA: the step `denoisecli train`
runs, with ``--restore-loss`` through a sidecar's post steps when ``--sidecar`` is given.

    python benchmarks/train_step_parts.py --device cuda --batch-size 64 --crop-size 128
    python benchmarks/train_step_parts.py --device cuda --sidecar weights/skip.json --profile
    python benchmarks/train_step_parts.py --device cpu --batch-size 2 --crop-size 32 --sidecar weights/skip.json

Each part is timed to the device's end (a CUDA synchronize after it), so the parts add up to
the step: noise, the fill before the network (when the sidecar has one; on the CPU, in NumPy),
LAB, forward, the restore step (with ``--sidecar``) and both losses, backward, Adam.
Each part's operator count (ATen operations dispatched, from one more step, counted) comes
with its time: a GPU step made of thousands of small operations is bound by launching them,
and the count is the same on any device, so a CPU can say whether a change cuts it.
``--profile`` adds PyTorch's profiler table of the ops that take the most device time.

The twenty-second session's H200 ran `train --restore-loss` at 3.7 steps/s alone and about 1
step/s each with four runs beside it (batch 64, 128 px): the same total, where a plain step
ran at 31 steps/s each with four (docs/RESULTS.md, "A third GPU session"). This benchmark is
what to run first on the next one.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from denoisecli import wiener
from denoisecli.checkpoint import load_model, post_steps_of, resolve_model_path
from denoisecli.impulses import prefill_batch
from denoisecli.inference import color_settings
from denoisecli.noise import NoiseSettings
from denoisecli.pipeline import network_input, restored_lightness
from denoisecli.train import TrainConfig, build_optimizer, corrupt_batch, denoising_loss, noise_generator


class OperationCounter(TorchDispatchMode):
    """Counts the ATen operations dispatched while it is active (the backward's included)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def step_parts(
    device: torch.device, batch: int, crop: int, steps: int, sidecar: dict | None, model_name: str
) -> tuple[dict[str, float], dict[str, int], dict[str, bool]]:
    """Mean milliseconds per step of each part, over ``steps`` steps after two warm-up steps,
    each part's operation count (one more step, counted), and which post steps ran: with
    ``sidecar`` the restore step, and the fill before the network where it has one."""
    model = load_model(resolve_model_path(model_name))[0].to(device)
    model.train()
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as train does
    config = TrainConfig(data_dirs=[], output_dir="", noise=NoiseSettings(mix_weights=(1, 3, 2, 1, 2), gray_crops=0.3))
    restore = color_settings(sidecar)[1] if sidecar else None
    prefill = restore.get("prefill_impulses") if restore else None
    optimizer = build_optimizer("adam", model.parameters(), 1e-6, 0.9, 0.0)
    use_bf16 = device.type == "cuda"
    totals: dict[str, float] = defaultdict(float)
    times: dict[str, float] = {}  # this step's marks, in order
    counter = OperationCounter()
    counts: dict[str, int] = {}  # the counted step's marks

    def mark(name: str) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        times[name] = time.perf_counter()
        counts[name] = counter.count

    torch.manual_seed(0)  # the same crops on every run: the operation counts depend on them
    for step in range(steps + 3):
        counting = step == steps + 2  # the last step, after the timed ones: counted, not timed
        if counting:
            counter.__enter__()
        times.clear()
        mark("start")
        clean = torch.rand(batch, 3, crop, crop, device=device)
        with torch.no_grad():
            clean, noisy = corrupt_batch(clean, config, noise_generator(0, step, device))
            mark("noise")
            noisy = prefill_batch(noisy, prefill)
            mark("fill before the network")
            noisy_lab, network_in = network_input(noisy, model.config.chroma_input)
            _, target = network_input(clean)
            mark("LAB")
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            output = model(network_in.contiguous(memory_format=memory_format))
        mark("forward")
        loss = denoising_loss(output, target, config)
        if restore is not None:
            restored = restored_lightness(noisy_lab, output.float(), restore, noisy).output
            loss = loss + denoising_loss(restored, target, config)
        mark("restore step and losses")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        mark("backward")
        optimizer.step()
        mark("Adam")
        names = list(times)
        if counting:
            counter.__exit__(None, None, None)
            operations = {
                after: counts[after] - counts[before] for before, after in zip(names, names[1:], strict=False)
            }
        elif step >= 2:
            for before, after in zip(names, names[1:], strict=False):
                totals[after] += (times[after] - times[before]) * 1000 / steps
    ran = {"through_post_steps": restore is not None, "filled_before_network": prefill is not None}
    return dict(totals), operations, ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model", default="skip", help="a shipped variant or a .safetensors path")
    parser.add_argument("--sidecar", help="a model's .json: train through its post steps (--restore-loss)")
    parser.add_argument("--profile", action="store_true", help="add the profiler's top ops by device time")
    parser.add_argument(
        "--wiener-route",
        choices=["tilings", "grids"],
        help="the DCT Wiener filter's route on any device (default: a CPU's tilings, a GPU's grids)",
    )
    arguments = parser.parse_args()
    wiener.ROUTE = arguments.wiener_route
    device = torch.device(arguments.device)
    sidecar = None
    if arguments.sidecar:
        with open(arguments.sidecar) as handle:
            sidecar = post_steps_of(json.load(handle))

    def measure(steps: int) -> tuple[dict[str, float], dict[str, int], dict[str, bool]]:
        return step_parts(device, arguments.batch_size, arguments.crop_size, steps, sidecar, arguments.model)

    parts, operations, ran = measure(arguments.steps)
    total = sum(parts.values())
    shape = f"{device.type}, batch {arguments.batch_size}, {arguments.crop_size} px"
    print(f"| part | ms/step ({shape}) | share | operations |")
    print("|---|---|---|---|")
    for name, milliseconds in parts.items():
        print(f"| {name} | {milliseconds:.1f} | {milliseconds / total:.0%} | {operations[name]} |")
    print(f"| step | {total:.1f} | {1000 / total:.1f} steps/s | {sum(operations.values())} |")
    if arguments.profile:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as profiler:
            measure(1)
        events = profiler.key_averages()
        sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        called = sum(event.count for event in events)
        print(f"\nops called in four steps (two warm-up, one timed, one counted): {called}")
        print(events.table(sort_by=sort_by, row_limit=15))
    summary = {"device": str(device), **ran, "parts_ms": parts, "step_ms": total, "operations": operations}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
