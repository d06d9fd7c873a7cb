"""Shared fixtures: tiny images made in code and a tiny random-weight checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from denoisecli.checkpoint import export_model
from denoisecli.models import build_model

torch.set_num_threads(1)  # tests are tiny; one thread avoids oversubscription on 2-core CI


def smooth_rgb(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    """A photo-like float32 HxWx3 image in [0, 1]: gradients plus a few soft blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    channels = []
    for _ in range(3):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * (min(height, width) / 3) ** 2))
        channels.append(0.2 + 0.5 * blob + 0.2 * x / width)
    return np.clip(np.stack(channels, axis=-1), 0, 1).astype(np.float32)


@pytest.fixture
def rgb_image() -> np.ndarray:
    return smooth_rgb()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A random-weight ``skip`` model, width 4, exported like a trained one (BN stats set)."""
    torch.manual_seed(0)
    model = build_model("skip", width=4)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return export_model(model.eval(), path, "skip", {"training": {"note": "random weights for tests"}})


def shallow_with_setting(folder: Path, section: str, key: str, value) -> Path:
    """A copy of the shipped ``shallow`` weights whose sidecar sets ``color.<section>.<key>``."""
    import json
    import shutil

    from denoisecli.checkpoint import resolve_model_path

    weights = resolve_model_path("shallow")
    target = folder / "shallow-edited.safetensors"
    shutil.copy(weights, target)
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    sidecar.setdefault("color", {}).setdefault(section, {})[key] = value
    target.with_suffix(".json").write_text(json.dumps(sidecar))
    return target


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(np.rint(pixels * 255).astype(np.uint8)).save(path)
    return path


def run_torchrun(*arguments: str, processes: int = 2) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free port) of ``python -m denoisecli ARGUMENTS`` on CPU."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += ["-m", "denoisecli", *arguments]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=240)
