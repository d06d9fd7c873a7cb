"""Sharded `denoise` under torchrun: two CPU processes on gloo write exactly one process's outputs."""

import os
import subprocess
import sys

from conftest import run_torchrun, smooth_rgb, write_png


def test_two_process_sharded_denoise_matches_one_process(tmp_path, tiny_model_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for index in range(5):
        write_png(photos / ("sub" if index % 2 else "") / f"p{index}.png", smooth_rgb(24, 32, seed=index))
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["denoise", str(photos), "--model", str(tiny_model_path), "--device", "cpu"]
    subprocess.run([sys.executable, "-m", "denoisecli", *common, "-o", str(single), "-q"], check=True, env=env)
    result = run_torchrun(*common, "-o", str(sharded))
    assert result.returncode == 0, result.stderr  # all of it: a rank's traceback sits above the launcher's summary
    assert "rank 0/2" in result.stderr and "rank 1/2" in result.stderr
    assert "5 written" in result.stderr  # the combined summary counts both ranks' files
    expected = sorted(p.relative_to(single) for p in single.rglob("*.png"))
    assert sorted(p.relative_to(sharded) for p in sharded.rglob("*.png")) == expected and len(expected) == 5
    for relative in expected:
        assert (single / relative).read_bytes() == (sharded / relative).read_bytes()
