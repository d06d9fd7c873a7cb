"""The repo's data scripts, run as a user runs them (no network: the wheel comes from a cache)."""

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
from conftest import write_png

from denoisecli.data import split_by_name
from denoisecli.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def test_fetch_validation_photos_links_the_pools_validation_split(tmp_path):
    script = ROOT / "scripts" / "fetch_validation_photos.py"
    spec = importlib.util.spec_from_file_location("fetch_validation_photos", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cache = tmp_path / "cache"
    cache.mkdir()
    with zipfile.ZipFile(cache / f"scikit_image-{module.VERSION}-py3-none-any.whl", "w") as wheel:
        for name in module.PHOTOS:
            wheel.writestr(f"skimage/data/{name}.png", b"png bytes of " + name.encode())
    pool = tmp_path / "pool"
    pool.mkdir()
    photos = [write_png(pool / f"photo{index:02d}.png", np.full((8, 8, 3), 0.5, np.float32)) for index in range(40)]
    expected = split_by_name(photos, TrainConfig.validation_fraction, TrainConfig.test_fraction)["validation"]
    assert expected, "the fixture needs at least one validation photo"

    output = tmp_path / "validation"
    command = [sys.executable, str(script), str(output), "--cache", str(cache), "--pool", str(pool)]
    subprocess.run(command, check=True, capture_output=True)

    linked = sorted(path.name for path in output.iterdir() if path.is_symlink())
    assert linked == sorted(path.name for path in expected)
    assert (output / "coffee.png").read_bytes() == b"png bytes of coffee"
    manifest = json.loads((output / "manifest.json").read_text())
    assert len(manifest) == len(module.PHOTOS) + len(expected)
