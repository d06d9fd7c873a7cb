"""Seconds per megapixel of the DCT Wiener filter for L (``denoisecli.wiener.dct_wiener``) alone.

    python benchmarks/wiener_speed.py --threads 2 [--side 768] [--stride 4] [--quincunx] [--repeat [--floor]]
    python benchmarks/wiener_speed.py --quincunx --repeat --floor --route grids   # the GPU route, here

One tile of the default size (``inference.DEFAULT_TILE``), random L and a pilot near it; the best of
several timed blocks, in wall and CPU time (CPU time drifts less on a shared machine). Run it at an
earlier commit to compare implementations: it only calls the filter's public function.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from denoisecli import wiener
from denoisecli.wiener import dct_wiener


def best_of(run, repeats: int, blocks: int) -> tuple[float, float]:
    """The best (wall, CPU) seconds per call over ``blocks`` blocks of ``repeats`` calls."""
    run()  # warm-up: first-call allocation
    wall = cpu = float("inf")
    for _ in range(blocks):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            run()
        wall = min(wall, (time.perf_counter() - wall_start) / repeats)
        cpu = min(cpu, (time.process_time() - cpu_start) / repeats)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=768)
    parser.add_argument("--block", type=int, default=8)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--quincunx", action="store_true", help="the windows at the stride grid's centres too")
    parser.add_argument(
        "--repeat", action="store_true", help="a full second pass (the default sidecar's up to noise 8)"
    )
    parser.add_argument("--floor", action="store_true", help="--repeat with the floor (repeat_floor)")
    parser.add_argument("--route", choices=["tilings", "grids"], help="the filter's route (default: by device)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--blocks", type=int, default=5)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    wiener.ROUTE = arguments.route
    generator = torch.Generator().manual_seed(0)
    noisy = torch.rand(1, 1, arguments.side, arguments.side, generator=generator) * 2 - 1
    pilot = noisy + 0.1 * torch.randn(noisy.shape, generator=generator)
    sigma = torch.tensor([0.1])
    repeat = torch.ones(1) if arguments.repeat else None
    shape = arguments.block, arguments.stride, arguments.quincunx
    wall, cpu = best_of(
        lambda: dct_wiener(noisy, pilot, sigma, 1.0, *shape, repeat=repeat, floor=arguments.floor),
        arguments.repeats,
        arguments.blocks,
    )
    megapixels = arguments.side**2 / 1e6
    print(
        json.dumps(
            {
                "side": arguments.side,
                "block": arguments.block,
                "stride": arguments.stride,
                "quincunx": arguments.quincunx,
                "repeat": arguments.repeat,
                "floor": arguments.floor,
                "route": arguments.route or "by device",
                "threads": arguments.threads,
                "wall_seconds_per_megapixel": round(wall / megapixels, 4),
                "cpu_seconds_per_megapixel": round(cpu / megapixels, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
