"""Weights as ``.safetensors`` with a ``.json`` sidecar, resume state, and the shipped weights.

The sidecar is what drives inference (variant, model config, head, chroma handling), so a CLI
flag can never disagree with how the weights were trained. Only primitives and tensors are
stored: no pickles in anything that ships.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from denoisecli.atomic import atomic_path
from denoisecli.color import check_risk_choices
from denoisecli.detail import check_sharpening_guard, check_strength_schedule
from denoisecli.errors import DenoiseError
from denoisecli.impulses import check_prefill_settings
from denoisecli.models import VARIANTS, Autoencoder, ModelConfig
from denoisecli.wiener import check_wiener_settings

FORMAT_VERSION = 1


def shipped_weights_dir() -> Path:
    """``$DENOISECLI_WEIGHTS``, else the installed package data, else ``weights/`` in a checkout."""
    override = os.environ.get("DENOISECLI_WEIGHTS")
    if override:
        return Path(override)
    installed = Path(__file__).resolve().parent / "weights"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "weights"


# Chosen by RGB PSNR with benchmarks/chroma.py (docs/RESULTS.md has the table).
DEFAULT_CHROMA = {"method": "guided", "sigma": 3.0, "radius": 3, "epsilon": 100.0, "fill_sigma": 3.0, "tolerance": 12.0}
# Giving back detail above the noise (denoisecli/detail.py); docs/RESULTS.md ("Restoring
# detail") has the measurements. A sidecar written before this existed gets these too.
DEFAULT_RESTORE = {"radius": 7, "strength": 1.0, "chroma_strength": 2.0, "impulse_threshold": 4.0}


def sidecar_path(weights_path: Path) -> Path:
    return weights_path.with_suffix(".json")


POST_STEP_KEYS = ("color", "deblur")  # a sidecar's settings for the steps around the network


def post_steps_of(sidecar: dict) -> dict:
    """A sidecar's post-step blocks (``color``, ``deblur``, where it has them): what another
    model with this one's steps takes (``export_model``'s ``post_steps``)."""
    return {key: sidecar[key] for key in POST_STEP_KEYS if key in sidecar}


def export_model(
    model: Autoencoder, path: str | Path, variant: str, metadata: dict | None = None, post_steps: dict | None = None
) -> Path:
    """Write eval-mode weights to ``path`` (.safetensors) and the sidecar beside it, atomically;
    ``post_steps`` (``color``, ``deblur``: another sidecar's) replace the default ``color``."""
    path = Path(path).with_suffix(".safetensors")
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    sidecar = {
        "format_version": FORMAT_VERSION,
        "variant": variant,
        "config": model.config.to_dict(),
        "color": {
            "space": "lab",
            "network_channel": "L",
            "chroma": dict(DEFAULT_CHROMA),
            "restore": dict(DEFAULT_RESTORE),
        },
        **(post_steps or {}),
        **(metadata or {}),
    }
    write_model_files(tensors, path, sidecar)
    return path


def write_model_files(tensors: dict[str, torch.Tensor], path: Path, sidecar: dict) -> None:
    """Write ``tensors`` to ``path`` (.safetensors) and ``sidecar`` beside it, each atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={"format_version": str(FORMAT_VERSION)})
    write_json_atomic(sidecar_path(path), sidecar)


def load_model(path: str | Path) -> tuple[Autoencoder, dict]:
    """Build the model a ``.safetensors`` file describes and load it strictly, in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise DenoiseError(f"{path}: model file not found")
    sidecar_file = sidecar_path(path)
    if not sidecar_file.is_file():
        raise DenoiseError(f"{path}: its sidecar {sidecar_file.name} is missing")
    try:
        sidecar = json.loads(sidecar_file.read_text())
        config = ModelConfig(**sidecar["config"])
        state = load_file(str(path))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise DenoiseError(f"{sidecar_file}: not a denoisecli model sidecar ({error})") from None
    except (SafetensorError, OSError) as error:
        raise DenoiseError(f"{path}: not a readable safetensors file ({error})") from None
    if sidecar.get("format_version") != FORMAT_VERSION:
        raise DenoiseError(f"{path}: model format {sidecar.get('format_version')} is not {FORMAT_VERSION}")
    try:
        restore = sidecar.get("color", {}).get("restore", {})
        check_strength_schedule(restore.get("strength_by_noise"))
        check_wiener_settings(restore.get("wiener"))
        check_sharpening_guard(restore.get("sharpening_guard"))
        check_prefill_settings(restore.get("prefill_impulses"))
        check_risk_choices(sidecar.get("color", {}).get("chroma", {}).get("choose_by_risk"))
        for switch in ("lab_noise", "lightness_from_chroma", "noise_from_differences"):
            if not isinstance(restore.get(switch, False), bool):
                raise ValueError(f"{switch} must be true or false, got {restore[switch]!r}")
    except ValueError as error:
        raise DenoiseError(f"{sidecar_file}: {error}") from None
    model = Autoencoder(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise DenoiseError(f"{path}: weights do not match their config ({first_line})") from None
    return model.eval(), sidecar


def gray_model_path(path: str | Path, sidecar: dict) -> Path | None:
    """The companion model a sidecar names for one-channel photos (``"gray_model"``: a
    ``.safetensors`` file in the same folder as ``path``), or None where it names none."""
    name = sidecar.get("gray_model")
    if name is None:
        return None
    if not (isinstance(name, str) and name.endswith(".safetensors") and Path(name).name == name):
        raise DenoiseError(f"{path}: gray_model must name a .safetensors file beside it, got {name!r}")
    return Path(path).parent / name


def resolve_model_path(name_or_path: str) -> Path:
    """A shipped variant name (``skip``) or a path to a ``.safetensors`` file."""
    if name_or_path in VARIANTS:
        folder = shipped_weights_dir()
        path = folder / f"{name_or_path}.safetensors"
        if not path.is_file():
            raise DenoiseError(f"shipped weights for {name_or_path!r} are missing from {folder}")
        return path
    path = Path(name_or_path)
    if not path.exists():
        raise DenoiseError(f"{path}: model file not found (or use one of {', '.join(VARIANTS)})")
    return path


def save_training_state(path: Path, state: dict) -> None:
    """Resume state (model, optimizer, scheduler, step): tensors and primitives, atomically."""
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load_training_state(path: Path) -> dict:
    if not path.is_file():
        raise DenoiseError(f"{path}: no checkpoint to resume from")
    return torch.load(path, map_location="cpu", weights_only=True)


def write_json_atomic(path: Path, data) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
