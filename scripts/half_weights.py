"""Store a model's weights in float16: half the bytes, for a candidate kept to train on from.

A candidate that did not ship is still a starting point (``train --init``), and the repository
is the only way it reaches the next session: what is gitignored does not survive one. In
float16 a growth-2.5 network takes 3 MB instead of 6, which the GPU's 64 MiB carry notices.
``load_model`` casts the weights back to float32 on loading, so the copy works wherever a model
does; its outputs move by float16's rounding (about 5e-4 of each weight), so the copy is not
the file that was scored: score the copy itself before it ships.

    python scripts/half_weights.py runs/yd-g25/model.safetensors -o weights/candidates/yd.safetensors

Integer tensors (batch norm's step counters) stay as they are; the sidecar is the input's with
``training.stored_in`` and a line added to its note.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from denoisecli.checkpoint import load_model, sidecar_path, write_model_files
from denoisecli.errors import DenoiseError


def halved(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors in float16, others unchanged; raises ValueError where a value
    does not fit float16's range (it would load as infinity)."""
    out = {}
    for name, value in state.items():
        if value.is_floating_point():
            value = value.to(torch.float16)
            if not torch.isfinite(value).all():
                raise ValueError(f"{name} has values beyond float16's range")
        out[name] = value.contiguous()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the .safetensors to copy (sidecar beside it)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the float16 .safetensors to write")
    args = parser.parse_args(argv)
    output = args.output.with_suffix(".safetensors")
    if output.resolve() == args.model.resolve():
        parser.error(f"{output} is the input; write the float16 copy to a new file")
    try:
        model, sidecar = load_model(args.model)  # loaded strictly, so its state is the file's tensors
        state = halved(model.state_dict())
    except (DenoiseError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    training = dict(sidecar.get("training", {}))
    training["stored_in"] = "float16"
    note = f"float16 copy of {args.model} (scripts/half_weights.py); scores were measured on the float32 file."
    training["note"] = f"{training.get('note', '')} {note}".strip()
    write_model_files(state, output, {**sidecar, "training": training})
    print(f"wrote {output} and {sidecar_path(output).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
