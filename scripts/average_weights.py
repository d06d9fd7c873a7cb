"""Average the weights of fine-tunes that started from the same model (a "model soup").

Fine-tunes of one network that each gained something different (float noise, clipped noise, a
clean photo) often keep most of each gain when their weights are averaged, at no cost in speed:
the result is one network of the same shape. Only runs from the same init average well; this
script checks that every input has the same architecture, not where it came from.

    python scripts/average_weights.py A.safetensors B.safetensors -o soup.safetensors \
        --sidecar weights/skip.json

Float tensors (weights, batch-norm statistics) are averaged; integer ones (batch-norm's step
counters) are taken from the first input. The output's post steps (``color``, ``deblur``) are
the ``--sidecar``'s, or the first input's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from denoisecli.checkpoint import export_model, load_model, post_steps_of, sidecar_path
from denoisecli.errors import DenoiseError


def average_state(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors; other tensors from the first state."""
    averaged = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            averaged[name] = torch.stack([state[name].float() for state in states]).mean(0).to(first.dtype)
        else:
            averaged[name] = first.clone()
    return averaged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help=".safetensors files with sidecars, same architecture")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the averaged .safetensors to write")
    parser.add_argument("--sidecar", type=Path, help="post steps from this sidecar (default: the first input's)")
    parser.add_argument("--note", default="", help="added to the output sidecar's training note")
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least two models to average")
    output = args.output.with_suffix(".safetensors")
    if any(output.resolve() == path.resolve() for path in args.models):
        parser.error(f"{output} is one of the inputs; write the average to a new file")
    try:
        loaded = [load_model(path) for path in args.models]
        configs = {json.dumps(sidecar["config"], sort_keys=True) for _, sidecar in loaded}
        variants = {sidecar["variant"] for _, sidecar in loaded}
        if len(configs) > 1 or len(variants) > 1:
            raise DenoiseError("the models differ in architecture; only fine-tunes of one network average")
        model, first_sidecar = loaded[0]
        post_source = json.loads(args.sidecar.read_text()) if args.sidecar else first_sidecar
    except (DenoiseError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    model.load_state_dict(average_state([m.state_dict() for m, _ in loaded]), strict=True)
    names = ", ".join(str(path) for path in args.models)
    training = {
        "averaged": [str(path) for path in args.models],
        "note": f"mean of the weights of {names}. {args.note}".strip(),
    }
    written = export_model(model, output, first_sidecar["variant"], {"training": training}, post_steps_of(post_source))
    print(f"wrote {written} and {sidecar_path(written).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
