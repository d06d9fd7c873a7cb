"""Write a model grown to more channels that computes exactly what the original computes.

The new channels take random weights in and zero weights out (``models.widened``), so the
output is the input model's, bit for bit through ``denoise``, until training moves those zeros.
Two uses: timing a wider shape on real post steps before any GPU minute is spent on it
(``benchmarks/denoise_speed.py``, the same outputs so the same post-step paths), and a wider
starting point by hand (``train --init`` grows a narrower model by itself).

    python scripts/widen_model.py weights/skip.safetensors --growth 2.5 -o wide.safetensors

The output keeps the input's sidecar blocks (``color``, ``deblur``) and says where it came from.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from denoisecli.checkpoint import export_model, load_model, post_steps_of, sidecar_path
from denoisecli.errors import DenoiseError
from denoisecli.models import widened


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the .safetensors to grow (sidecar beside it)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the grown .safetensors to write")
    parser.add_argument("--width", type=int, help="channels at the first level (default: the model's)")
    parser.add_argument("--growth", type=float, help="channel growth per level (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' weights in")
    args = parser.parse_args(argv)
    output = args.output.with_suffix(".safetensors")
    if output.resolve() == args.model.resolve():
        parser.error(f"{output} is the input; write the grown model to a new file")
    try:
        model, sidecar = load_model(args.model)
        width = args.width if args.width is not None else model.config.width
        growth = args.growth if args.growth is not None else model.config.growth
        grown = widened(model, replace(model.config, width=width, growth=growth), args.seed)
    except (DenoiseError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    training = {"widened_from": str(args.model), "note": f"{args.model} grown to {grown.config.channels()} channels"}
    written = export_model(grown, output, sidecar["variant"], {"training": training}, post_steps_of(sidecar))
    print(f"wrote {written} and {sidecar_path(written).name}: channels {grown.config.channels()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
