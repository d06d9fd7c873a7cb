"""The repo's data scripts, run as a user runs them (no network: the wheel comes from a cache)."""

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
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


def test_compare_results_gives_paired_differences_to_the_base(tmp_path):
    rows = [
        {"method": "runs/a/model", "case": "gaussian", "psnr_per_image": [30.0, 31.0, 32.0]},
        {"method": "skip", "case": "gaussian", "psnr_per_image": [29.0, 31.0, 33.0]},
        {"method": "skip", "case": "clean", "psnr_per_image": [48.0, 48.0, 40.0]},
        {"method": "runs/a/model", "case": "clean", "psnr_per_image": [48.0, 48.0, 46.0]},
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"rows": rows}))
    script = ROOT / "scripts" / "compare_results.py"
    run = [sys.executable, str(script), str(results), "--json", "--base"]
    out = json.loads(subprocess.run([*run, "skip"], check=True, capture_output=True, text=True).stdout)
    by_case = {row["case"]: row for row in out}
    assert set(by_case) == {"gaussian", "clean"} and all(row["method"] == "runs/a/model" for row in out)
    # Differences +1, 0, -1: mean 0, sample deviation 1, standard error 1/sqrt(3).
    assert by_case["gaussian"]["mean_difference"] == 0
    assert abs(by_case["gaussian"]["standard_error"] - 3**-0.5) < 1e-9
    assert (by_case["gaussian"]["ahead"], by_case["gaussian"]["behind"]) == (1, 1)
    assert (by_case["clean"]["mean_difference"], by_case["clean"]["ahead"], by_case["clean"]["behind"]) == (2, 1, 0)
    # A substring picks the base; one that matches both methods is a clear error.
    swapped = json.loads(subprocess.run([*run, "runs/a"], check=True, capture_output=True, text=True).stdout)
    assert {row["method"] for row in swapped} == {"skip"}
    ambiguous = subprocess.run([*run, "s"], capture_output=True, text=True)
    assert ambiguous.returncode != 0 and "matches 2 of the methods" in ambiguous.stderr


def test_restore_strength_benchmark_reads_a_rising_noise_level_off_rising_noise(tmp_path):
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", smooth_rgb(48, 64, seed=5))
    out = tmp_path / "scores.json"
    script = ROOT / "benchmarks" / "restore_strength.py"
    command = [sys.executable, str(script), str(photos), "--model", "shallow", "--threads", "1", "--json", str(out)]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert "| sigma50 |" in printed and "x1000" in printed
    scores = json.loads(out.read_text())
    noise = [scores["noise"][case][0] for case in ("sigma5", "sigma15", "sigma25", "sigma35", "sigma50")]
    assert noise == sorted(noise) and scores["noise"]["clean"][0] < noise[0]
    assert len(scores["psnr"]["sigma25@x1"]) == 1


def test_restore_benchmark_scores_settings_changed_together_and_per_image(tmp_path):
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", smooth_rgb(48, 64, seed=5))
    script = ROOT / "benchmarks" / "restore.py"
    command = [sys.executable, str(script), str(photos), "--model", "shallow", "--threads", "1"]
    command += ["--cases", "clean", "saltpepper", "--vary", "none", "--per-image", "saltpepper"]
    command += ["--try", "impulse_threshold=6,most_untrusted=3"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    rows = [line.split(" | ")[0] for line in printed.splitlines() if line.startswith("| ")]
    assert rows == ["| restore", "| none", "| default", "| impulse_threshold 6, most_untrusted 3", "| image", "| a"]


def _run_on_one_photo(tmp_path, script: str, seed: int, *options: str) -> str:
    """What ``benchmarks/SCRIPT`` prints for a folder of one small smooth photo, with ``shallow``
    on one thread and the whole photo."""
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", smooth_rgb(48, 64, seed=seed))
    command = [sys.executable, str(ROOT / "benchmarks" / script), str(photos), "--model", "shallow"]
    command += ["--threads", "1", "--side", "0", *options]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def test_sharpening_guard_benchmark_scores_every_guard_setting_and_reads_the_inputs(tmp_path):
    options = ["--cases", "clean", "blur", "--floors", "1e-3", "--max-noise", "0.5"]
    printed = _run_on_one_photo(tmp_path, "sharpening_guard.py", 6, *options)
    header = next(line for line in printed.splitlines() if line.startswith("| case"))
    assert header == "| case | sidecar | floor 0.001 | guard if noise <= 0.5 | guard off |"
    rows = [line.split(" | ")[0] for line in printed.splitlines() if line.startswith("| ") and "case" not in line]
    assert rows == ["| clean", "| blur"]
    assert "blur: " in printed and "clean: " in printed


def test_wiener_speed_benchmark_reports_seconds_per_megapixel():
    script = ROOT / "benchmarks" / "wiener_speed.py"
    command = [sys.executable, str(script), "--side", "64", "--repeats", "1", "--blocks", "1", "--threads", "1"]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert report["side"] == 64 and report["wall_seconds_per_megapixel"] > 0


def test_wiener_speed_benchmark_times_the_second_pass_with_its_floor():
    script = ROOT / "benchmarks" / "wiener_speed.py"
    command = [sys.executable, str(script), "--side", "64", "--repeats", "1", "--blocks", "1", "--repeat", "--floor"]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert report["repeat"] and report["floor"] and report["wall_seconds_per_megapixel"] > 0


def test_network_speed_benchmark_times_both_decoder_forms_in_both_precisions(tiny_model_path):
    script = ROOT / "benchmarks" / "network_speed.py"
    command = [sys.executable, str(script), "--model", str(tiny_model_path), "--side", "64", "--rounds", "1"]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    assert [row["dtype"] for row in report["rows"]] == ["float32", "bfloat16"]
    float32 = report["rows"][0]
    assert float32["plain_s_per_mp"] > 0 and float32["coarse_s_per_mp"] > 0
    assert float32["max_difference"] < 1e-5  # the same function


def test_network_speed_benchmark_times_a_changed_shape_and_rejects_an_unknown_field(tiny_model_path):
    script = ROOT / "benchmarks" / "network_speed.py"
    command = [sys.executable, str(script), "--model", str(tiny_model_path), "--side", "64", "--rounds", "1"]
    report = json.loads(
        subprocess.run(command + ["--shape", "unshuffle=4"], check=True, capture_output=True, text=True).stdout
    )
    assert report["shape"] == ["unshuffle=4"] and report["rows"][0]["max_difference"] < 1e-5
    failed = subprocess.run(command + ["--shape", "depth=3"], capture_output=True, text=True)
    assert failed.returncode != 0 and "no config field 'depth'" in failed.stderr


def test_lab_noise_benchmark_scores_the_correction_off_and_on_and_its_accuracy(tmp_path):
    printed = _run_on_one_photo(tmp_path, "lab_noise.py", 7)
    header = next(line for line in printed.splitlines() if line.startswith("| case"))
    assert header == "| case | off | on | on, and L | its L, clean A/B | on - off | on, and L - on |"
    gaussian = next(line for line in printed.splitlines() if line.startswith("| sigma25 "))
    assert float(gaussian.split(" | ")[-2]) > 0  # the correction gains on noisy colour
    script = ROOT / "benchmarks" / "lab_noise.py"
    command = [sys.executable, str(script), "--accuracy", "--draws", "2000", "--levels", "2", "--threads", "1"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert len([line for line in printed.splitlines() if line.startswith("| ") and "sigma" not in line]) == 6


def test_downscale_photos_brings_pool_photos_to_a_test_sets_scale(tmp_path):
    from PIL import Image

    pool = tmp_path / "pool"
    pool.mkdir()
    write_png(pool / "wide.png", np.random.default_rng(0).random((60, 100, 3)).astype(np.float32))
    write_png(pool / "tall.png", np.random.default_rng(1).random((90, 45, 3)).astype(np.float32))
    command = [sys.executable, str(ROOT / "scripts" / "downscale_photos.py"), str(pool), str(tmp_path / "out")]
    subprocess.run([*command, "--side", "20", "--long", "30"], check=True, capture_output=True)
    sizes = {path.name: Image.open(path).size for path in (tmp_path / "out").iterdir()}
    assert sizes == {"wide.png": (30, 20), "tall.png": (20, 30)}


def test_prefill_speed_benchmark_times_both_noises_and_fills_the_salt(tmp_path):
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", smooth_rgb(64, 64, seed=2))
    command = [sys.executable, str(ROOT / "benchmarks" / "prefill_speed.py"), str(photos), "--repeats", "1"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert json.loads(printed.splitlines()[-1]).keys() == {"gaussian25", "saltpepper5"}
    assert "| saltpepper5 |" in printed and printed.split("| saltpepper5 |")[1].split("|")[1].strip() == "1"


def test_train_step_parts_benchmark_times_each_part_through_the_shipped_post_steps():
    command = [sys.executable, str(ROOT / "benchmarks" / "train_step_parts.py"), "--device", "cpu"]
    command += ["--batch-size", "2", "--crop-size", "32", "--steps", "1"]
    rows = {}
    sidecar = str(ROOT / "weights" / "skip.json")
    for name, extra in [("plain", []), ("tilings", ["--sidecar", sidecar]), ("grids", ["--sidecar", sidecar])]:
        extra += ["--wiener-route", name] if name == "grids" else []
        result = subprocess.run(command + extra, capture_output=True, text=True, check=True, cwd=ROOT)
        rows[name] = json.loads(result.stdout.strip().splitlines()[-1])
    assert not rows["plain"]["through_post_steps"] and not rows["plain"]["filled_before_network"]
    assert rows["tilings"]["through_post_steps"] and rows["tilings"]["filled_before_network"]
    # The GPU's route through the Wiener filter: fewer operations forward and backward.
    for part in ("restore step and losses", "backward"):
        assert rows["grids"]["operations"][part] < rows["tilings"]["operations"][part]
    for row in rows.values():
        parts = row["parts_ms"]
        assert list(parts) == [
            "noise",
            "fill before the network",
            "LAB",
            "forward",
            "restore step and losses",
            "backward",
            "Adam",
        ]
        assert all(value > 0 for value in parts.values())
        assert abs(sum(parts.values()) - row["step_ms"]) < 1e-6
        operations = row["operations"]
        assert list(operations) == list(parts) and operations["forward"] > 0 and operations["backward"] > 0


def test_average_weights_writes_the_mean_with_the_chosen_post_steps(tmp_path, tiny_model_path):
    import torch
    from safetensors.torch import load_file, save_file

    from denoisecli.checkpoint import export_model, load_model
    from denoisecli.models import build_model

    torch.manual_seed(1)
    other = export_model(build_model("skip", width=4).eval(), tmp_path / "other.safetensors", "skip")
    state = load_file(str(other))
    for name in state:  # the counters differ from the first model's, so taking them is tested
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
    save_file(state, str(other))
    sidecar = tmp_path / "post.json"
    sidecar.write_text(json.dumps({"color": {"restore": {"strength": 0.5}}, "deblur": {"min_blur": 1.1}}))

    output = tmp_path / "soup.safetensors"
    script = ROOT / "scripts" / "average_weights.py"
    inputs = [str(tiny_model_path), str(other)]
    command = [sys.executable, str(script), *inputs, "-o", str(output), "--sidecar", str(sidecar)]
    subprocess.run(command, check=True, capture_output=True)

    first, second, soup = load_file(str(tiny_model_path)), load_file(str(other)), load_file(str(output))
    for name, value in soup.items():
        if value.is_floating_point():
            assert torch.allclose(value, (first[name] + second[name]) / 2), name
        else:
            assert torch.equal(value, first[name]), name
    written = json.loads(output.with_suffix(".json").read_text())
    assert written["color"] == {"restore": {"strength": 0.5}} and written["deblur"] == {"min_blur": 1.1}
    assert written["training"]["averaged"] == [str(tiny_model_path), str(other)]
    load_model(output)  # loads strictly, like any shipped model


def test_average_weights_refuses_models_of_different_shapes(tmp_path, tiny_model_path):
    from denoisecli.checkpoint import export_model
    from denoisecli.models import build_model

    wider = export_model(build_model("skip", width=8).eval(), tmp_path / "wide.safetensors", "skip")
    script = ROOT / "scripts" / "average_weights.py"
    command = [sys.executable, str(script), str(tiny_model_path), str(wider), "-o", str(tmp_path / "x.safetensors")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "differ in architecture" in result.stderr
    assert not (tmp_path / "x.safetensors").exists()


def test_average_weights_never_writes_over_an_input(tmp_path, tiny_model_path):
    import shutil

    first = tmp_path / "a.safetensors"
    shutil.copy(tiny_model_path, first)
    shutil.copy(tiny_model_path.with_suffix(".json"), first.with_suffix(".json"))
    before = first.read_bytes()
    script = ROOT / "scripts" / "average_weights.py"
    command = [sys.executable, str(script), str(first), str(tiny_model_path), "-o", str(first)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2 and "is one of the inputs" in result.stderr
    assert first.read_bytes() == before


def test_widen_model_writes_a_wider_model_with_the_same_outputs(tmp_path, tiny_model_path):
    import torch

    from denoisecli.checkpoint import load_model

    script = ROOT / "scripts" / "widen_model.py"
    output = tmp_path / "wide.safetensors"
    command = [sys.executable, str(script), str(tiny_model_path), "--growth", "2.5", "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True)
    narrow, narrow_sidecar = load_model(tiny_model_path)
    wide, sidecar = load_model(output)  # strictly, like any shipped model
    assert sidecar["config"]["growth"] == 2.5 and sidecar["color"] == narrow_sidecar["color"]
    assert wide.config.channels()[-1] > narrow.config.channels()[-1]
    x = torch.rand(1, narrow.config.input_channels, 24, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(wide(x), narrow(x))
    narrower = [sys.executable, str(script), str(tiny_model_path), "--width", "1", "-o", str(tmp_path / "n")]
    result = subprocess.run(narrower, capture_output=True, text=True)
    assert result.returncode == 1 and "narrower" in result.stderr


def test_narrow_model_writes_a_narrower_model_that_loads_and_keeps_the_post_steps(tmp_path, tiny_model_path):
    from conftest import smooth_rgb

    from denoisecli.checkpoint import load_model

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", smooth_rgb(40, 48, seed=4))
    script = ROOT / "scripts" / "narrow_model.py"
    output = tmp_path / "narrow.safetensors"
    command = [sys.executable, str(script), str(tiny_model_path), "--growth", "1.5", "-o", str(output)]
    subprocess.run([*command, "--photos", str(photos), "--size", "32"], check=True, capture_output=True)
    original, original_sidecar = load_model(tiny_model_path)
    cut, sidecar = load_model(output)  # strictly, like any shipped model
    assert sidecar["config"]["growth"] == 1.5 and sidecar["color"] == original_sidecar["color"]
    assert cut.config.channels()[-1] < original.config.channels()[-1]
    assert "activity on" in sidecar["training"]["note"]
    wider = [sys.executable, str(script), str(tiny_model_path), "--width", "64", "-o", str(tmp_path / "w")]
    result = subprocess.run(wider, capture_output=True, text=True)
    assert result.returncode == 1 and "wider" in result.stderr
    too_big = subprocess.run([*command, "--photos", str(photos)], capture_output=True, text=True)  # crops of 256
    assert too_big.returncode == 1 and "no colour photo" in too_big.stderr


def test_half_weights_writes_a_float16_copy_that_loads_and_denoises_alike(tmp_path, tiny_model_path):
    import torch
    from safetensors.torch import load_file

    from denoisecli.checkpoint import load_model

    script = ROOT / "scripts" / "half_weights.py"
    output = tmp_path / "half.safetensors"
    command = [sys.executable, str(script), str(tiny_model_path), "-o", str(output)]
    subprocess.run(command, check=True, capture_output=True)
    original, stored = load_file(str(tiny_model_path)), load_file(str(output))
    assert stored.keys() == original.keys()
    for name, value in stored.items():
        if original[name].is_floating_point():
            assert value.dtype == torch.float16, name
            torch.testing.assert_close(value.float(), original[name], rtol=1e-3, atol=1e-4)
        else:
            assert torch.equal(value, original[name]), name
    model, sidecar = load_model(tiny_model_path)
    half, half_sidecar = load_model(output)  # strictly, back in float32
    assert next(half.parameters()).dtype == torch.float32
    assert half_sidecar["training"]["stored_in"] == "float16" and half_sidecar["color"] == sidecar["color"]
    x = torch.rand(1, model.config.input_channels, 24, 40) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(half(x), model(x), rtol=1e-2, atol=1e-2)
    over = subprocess.run([sys.executable, str(script), str(output), "-o", str(output)], capture_output=True, text=True)
    assert over.returncode == 2 and "is the input" in over.stderr


def test_speed_benchmark_times_only_the_photos_as_large_as_asked(tmp_path):
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a_small.png", smooth_rgb(16, 24, seed=1))
    write_png(photos / "b_large.png", smooth_rgb(40, 50, seed=2))  # 0.002 MP
    command = [sys.executable, str(ROOT / "benchmarks" / "denoise_speed.py"), str(photos), "--models", "shallow"]
    command += ["--threads", "1", "--interleaved", "1", "--min-megapixels", "0.0015"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert printed.startswith("1 images from ")
    assert json.loads(printed.splitlines()[-1]).keys() == {"nlm", "shallow"}
    with_median = subprocess.run([*command, "--baselines", "median"], check=True, capture_output=True, text=True)
    assert json.loads(with_median.stdout.splitlines()[-1]).keys() == {"nlm", "median", "shallow"}


def test_speed_benchmark_says_where_nlm_had_fewer_threads_than_the_models():
    spec = importlib.util.spec_from_file_location("denoise_speed", ROOT / "benchmarks" / "denoise_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cbsd68, camera = (321, 481), (1080, 1920)  # one stripe of OpenCV's NLM, and 16
    assert "on 2 of 3 photos" in module.nlm_thread_note([cbsd68, camera, cbsd68], threads=2)
    assert module.nlm_thread_note([cbsd68], threads=1) == module.nlm_thread_note([camera], threads=2) == ""


def test_pipeline_stages_benchmark_splits_the_photos_time_into_its_stages(tmp_path):
    from conftest import smooth_rgb

    photos = tmp_path / "photos"
    photos.mkdir()
    # Two tiles wide and two threads: tiles side by side would time their stages twice over.
    write_png(photos / "a.png", smooth_rgb(48, 800, seed=3))
    command = [sys.executable, str(ROOT / "benchmarks" / "pipeline_stages.py"), str(photos), "--model", "skip"]
    command += ["--threads", "2", "--rounds", "1"]
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures = json.loads(printed.splitlines()[-1])
    assert {"network", "network_input", "lab_to_rgb", "other"} <= figures.keys()
    stages = sum(value for key, value in figures.items() if key != "total_s_per_mp")
    assert stages == pytest.approx(figures["total_s_per_mp"] * 1e3, rel=0.01)  # "other" closes the sum
