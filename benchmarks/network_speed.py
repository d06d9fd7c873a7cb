"""Seconds per megapixel of the network alone, with its decoder blocks as trained and as
``CoarseDecoderBlock`` (``models.coarse_decoders``), in float32 and bfloat16, interleaved.

    python benchmarks/network_speed.py --threads 2 [--model skip] [--side 512] [--rounds 8]

One random input of ``--side`` px (the network's input: L, and A/B for a ``chroma_input`` model),
batch norm folded and channels_last as ``inference.Denoiser`` runs it. The two forms alternate
round by round in one process, so a busy machine slows both alike; each figure is the fastest
round. ``Denoiser`` uses the coarse form in float32 on CPU only: this is the measurement behind it.

``--shape width=12 growth=2.5`` times the model's network shape with those config fields changed,
with fresh random weights (the time does not depend on their values): what a network of that
shape would cost before anyone trains one. ``--threads 1`` is the equal-thread comparison with
OpenCV's NLM on small photos (docs/BENCHMARKS.md, "Twenty-ninth session").
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import time

import torch

from denoisecli.checkpoint import load_model, resolve_model_path
from denoisecli.models import Autoencoder, coarse_decoders, fold_batch_norm
from denoisecli.models.autoencoder import ModelConfig


def reshaped(model: Autoencoder, changes: list[str]) -> Autoencoder:
    """A fresh model of ``model``'s config with ``changes`` (``field=value``) applied."""
    fields = [field.name for field in dataclasses.fields(ModelConfig)]
    overrides = {}
    for change in changes:
        name, _, value = change.partition("=")
        if name not in fields:
            raise SystemExit(f"--shape: no config field {name!r}; fields: {', '.join(fields)}")
        current = getattr(model.config, name)
        overrides[name] = value.lower() == "true" if isinstance(current, bool) else type(current)(value)
    return Autoencoder(dataclasses.replace(model.config, **overrides)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="skip", help="as evaluate's --model")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--calls", type=int, default=5, help="calls per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shape", nargs="+", default=[], help="config fields to change, as width=12")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    model, _ = load_model(resolve_model_path(arguments.model))
    if arguments.shape:
        model = reshaped(model, arguments.shape)
    plain = fold_batch_norm(model.eval())
    forms = {"plain": plain, "coarse": coarse_decoders(copy.deepcopy(plain))}
    forms = {name: form.to(memory_format=torch.channels_last) for name, form in forms.items()}
    side = arguments.side
    x = torch.rand(1, model.config.input_channels, side, side) * 2 - 1
    x = x.contiguous(memory_format=torch.channels_last)
    megapixels = side * side / 1e6
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        autocast = torch.autocast("cpu", dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
        best = dict.fromkeys(forms, float("inf"))
        with torch.inference_mode(), autocast:
            gap = (forms["plain"](x).float() - forms["coarse"](x).float()).abs().max().item()  # also a warm-up
            for _ in range(arguments.rounds):
                for name, form in forms.items():
                    start = time.perf_counter()
                    for _ in range(arguments.calls):
                        form(x)
                    best[name] = min(best[name], (time.perf_counter() - start) / arguments.calls / megapixels)
        row = {"dtype": str(dtype).removeprefix("torch."), **{f"{k}_s_per_mp": round(v, 4) for k, v in best.items()}}
        rows.append({**row, "coarse_over_plain": round(best["coarse"] / best["plain"], 3), "max_difference": gap})
    summary = {"model": arguments.model, "shape": arguments.shape, "side": side, "threads": arguments.threads}
    print(json.dumps({**summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
