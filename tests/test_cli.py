import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import smooth_rgb, write_png
from PIL import Image, ImageCms
from typer.testing import CliRunner

from denoisecli.cli import app
from denoisecli.imageio import Photo, read_photo, write_photo

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def photo_tree(tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    write_png(root / "a.png", smooth_rgb(30, 40, 1))
    write_png(root / "sub" / "b.png", smooth_rgb(36, 28, 2))
    return root


def test_every_command_has_help_with_an_example():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ["corrupt", "denoise", "train", "evaluate"]:
        assert command in result.output
        sub = invoke(command, "--help")
        assert sub.exit_code == 0 and "Example" in sub.output, command


def test_help_does_not_import_torch():
    code = "import sys; from denoisecli.cli import app; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    result = subprocess.run([sys.executable, "-m", "denoisecli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "denoise" in result.stdout


def test_command_line_choices_match_the_library():
    from denoisecli import cli
    from denoisecli.models import HEADS, VARIANTS
    from denoisecli.models.autoencoder import SKIP_ORDERS
    from denoisecli.noise import NOISE_NAMES
    from denoisecli.train import OPTIMIZERS, SCHEDULES

    pairs = [
        (cli.Variant, VARIANTS),
        (cli.Head, HEADS),
        (cli.SkipOrder, SKIP_ORDERS),
        (cli.Optimizer, OPTIMIZERS),
        (cli.Schedule, SCHEDULES),
        (cli.Noise, (*NOISE_NAMES, "mixed")),
    ]
    for choices, library in pairs:
        assert {choice.value for choice in choices} == set(library), choices.__name__


def test_corrupt_folder_mirrors_tree_and_same_seed_is_byte_identical(photo_tree, tmp_path):
    first, second, other = tmp_path / "n1", tmp_path / "n2", tmp_path / "n3"
    assert invoke("corrupt", photo_tree, "-o", first, "--noise", "mixed", "--seed", 7).exit_code == 0
    assert invoke("corrupt", photo_tree, "-o", second, "--noise", "mixed", "--seed", 7).exit_code == 0
    assert invoke("corrupt", photo_tree, "-o", other, "--noise", "mixed", "--seed", 8, "-q").exit_code == 0
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.png"))
    assert names == ["a.png", "sub/b.png"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert any((first / n).read_bytes() != (other / n).read_bytes() for n in names)


@pytest.mark.parametrize(
    ("noise", "options"),
    [
        ("gaussian", ["--sigma", "25"]),
        ("saltpepper", ["--amount", "0.1"]),
        ("blur", ["--sigma", "1,2"]),
        ("knockout", ["--amount", "0.05"]),
    ],
)
def test_corrupt_single_file_each_noise(photo_tree, tmp_path, noise, options):
    out = tmp_path / "noisy.png"
    result = invoke("corrupt", photo_tree / "a.png", "-o", out, "--noise", noise, *options)
    assert result.exit_code == 0, result.output
    noisy, clean = read_photo(out).pixels, read_photo(photo_tree / "a.png").pixels
    assert noisy.shape == clean.shape and not np.array_equal(noisy, clean)


def bad_inputs(tmp_path):
    good = tmp_path / "good.png"
    write_png(good, smooth_rgb())
    cases = {
        "missing.png": None,
        "empty.png": b"",
        "notes.png": b"plain text",
        "truncated.png": good.read_bytes()[:150],
        "huge.png": good.read_bytes(),
    }
    paths = {}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        paths[name] = path
    return paths


@pytest.mark.parametrize("name", ["missing.png", "empty.png", "notes.png", "truncated.png", "huge.png"])
def test_corrupt_bad_input_is_one_error_line(tmp_path, name):
    path = bad_inputs(tmp_path)[name]
    result = invoke("corrupt", path, "-o", tmp_path / "out.png", "--max-megapixels", "0.001")
    assert result.exit_code == 1
    assert "Error:" in result.output and name in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.png").exists()


def test_denoise_file_folder_and_default_output(photo_tree, tmp_path, tiny_model_path):
    out = tmp_path / "clean.jpg"
    assert invoke("denoise", photo_tree / "a.png", "-o", out, "--model", tiny_model_path).exit_code == 0
    assert Image.open(out).format == "JPEG"
    folder = tmp_path / "clean"
    result = invoke("denoise", photo_tree, "-o", folder, "--model", tiny_model_path)
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == ["a.png", "sub/b.png"]
    assert invoke("denoise", photo_tree / "a.png", "--model", tiny_model_path).exit_code == 0
    assert (photo_tree / "a_denoised.png").is_file()
    result = invoke(
        "denoise",
        photo_tree / "a.png",
        "-o",
        tmp_path / "half.png",
        "--model",
        tiny_model_path,
        "--precision",
        "bfloat16",
    )
    assert result.exit_code == 0 and "on cpu, bfloat16" in result.output


def test_denoise_skips_existing_unless_overwrite_and_never_touches_input(photo_tree, tmp_path, tiny_model_path):
    source = photo_tree / "a.png"
    original = source.read_bytes()
    out = tmp_path / "out.png"
    out.write_bytes(b"keep me")
    assert invoke("denoise", source, "-o", out, "--model", tiny_model_path).exit_code == 0
    assert out.read_bytes() == b"keep me"
    assert invoke("denoise", source, "-o", out, "--model", tiny_model_path, "--overwrite").exit_code == 0
    assert out.read_bytes() != b"keep me"
    result = invoke("denoise", source, "-o", source, "--model", tiny_model_path, "--overwrite")
    assert result.exit_code == 1 and "refusing to overwrite the input" in result.output
    assert source.read_bytes() == original


def test_denoise_keeps_modes_depth_alpha_and_metadata(tmp_path, tiny_model_path):
    pixels = smooth_rgb(20, 24)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    alpha = np.arange(20 * 24, dtype=np.uint8).reshape(20, 24)
    inputs = {
        "rgb16.png": Photo(pixels, 16, None, exif.tobytes(), icc),
        "gray.png": Photo(pixels[..., :1]),
        "rgba.png": Photo(pixels, 8, alpha),
        "meta.jpg": Photo(pixels, 8, None, exif.tobytes(), icc),
    }
    for name, photo in inputs.items():
        write_photo(tmp_path / name, photo)
        result = invoke("denoise", tmp_path / name, "-o", tmp_path / f"out_{name}", "--model", tiny_model_path)
        assert result.exit_code == 0, result.output
    assert read_photo(tmp_path / "out_rgb16.png").bit_depth == 16
    assert read_photo(tmp_path / "out_gray.png").pixels.shape[2] == 1
    assert np.array_equal(read_photo(tmp_path / "out_rgba.png").alpha, alpha)
    for name in ["out_rgb16.png", "out_meta.jpg"]:
        with Image.open(tmp_path / name) as image:
            assert image.info.get("icc_profile") == icc and image.getexif().get(0x010F) == "TestCam"


def test_bad_file_in_a_folder_fails_at_the_end_after_the_others(photo_tree, tmp_path, tiny_model_path):
    (photo_tree / "broken.png").write_bytes(b"not a png")
    folder = tmp_path / "clean"
    result = invoke("denoise", photo_tree, "-o", folder, "--model", tiny_model_path)
    assert result.exit_code == 1
    assert "broken.png" in result.output and "Error:" in result.output
    assert (folder / "a.png").is_file() and (folder / "sub" / "b.png").is_file()
    assert not (folder / "broken.png").exists()


def test_interrupted_denoise_leaves_no_partial_file(photo_tree, tmp_path, tiny_model_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", interrupt)
    folder = tmp_path / "clean"
    result = invoke("denoise", photo_tree / "a.png", "-o", folder / "a.png", "--model", tiny_model_path)
    assert result.exit_code != 0
    assert not any(folder.rglob("*")) if folder.exists() else True


def test_denoise_errors(tmp_path, tiny_model_path, photo_tree):
    result = invoke("denoise", photo_tree / "a.png", "--model", tmp_path / "missing.safetensors")
    assert result.exit_code == 1 and "model file not found" in result.output
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = invoke("denoise", photo_tree / "a.png", "-o", blocker / "x.png", "--model", tiny_model_path)
    assert result.exit_code == 1 and "Error:" in result.output and "cannot write" in result.output
    result = invoke("denoise", photo_tree / "a.png", "--model", tiny_model_path, "--strength", -1)
    assert result.exit_code == 1 and "--strength must be 0 or more" in result.output
    result = invoke("denoise", photo_tree / "a.png", "--model", tiny_model_path, "--ensemble", 3)
    assert result.exit_code == 1 and "--ensemble must be 1, 2, 4 or 8, got 3" in result.output


def test_denoise_script_equals_denoisecli_denoise(photo_tree, tmp_path, tiny_model_path):
    via_app = tmp_path / "app.png"
    via_script = tmp_path / "script.png"
    assert invoke("denoise", photo_tree / "a.png", "-o", via_app, "--model", tiny_model_path).exit_code == 0
    code = "from denoisecli.cli import denoise_main; denoise_main()"
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(photo_tree / "a.png"),
            "-o",
            str(via_script),
            "--model",
            str(tiny_model_path),
            "-q",
        ],
        check=True,
    )
    assert via_app.read_bytes() == via_script.read_bytes()


def test_unsupported_output_format_is_an_error(photo_tree, tmp_path):
    result = invoke("corrupt", photo_tree / "a.png", "-o", tmp_path / "out.xyz")
    assert result.exit_code == 1 and "unsupported output format .xyz" in result.output
    assert not (tmp_path / "out.xyz").exists()


def test_full_disk_is_a_one_line_error(photo_tree, tmp_path, tiny_model_path, monkeypatch):
    import errno
    import os

    def no_space(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("os.fsync", no_space)
    out = tmp_path / "out.png"
    result = invoke("denoise", photo_tree / "a.png", "-o", out, "--model", tiny_model_path)
    assert result.exit_code == 1 and "No space left on device" in result.output and "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.glob(".out.png*")) == []


def test_train_takes_the_architecture_from_the_command_line(photo_tree, tmp_path):
    run_dir = tmp_path / "run"
    result = invoke(
        "train", photo_tree, "-o", run_dir, "--width", 6, "--growth", 1.5, "--layers", 1, "--unshuffle", 4,
        "--levels", 1, "--crop-size", 16, "--batch-size", 2, "--steps", 2, "--validation-fraction", 0,
        "--test-fraction", 0, "--workers", 0, "--device", "cpu", "--zoom-out", 2, "--min-texture", 3, "-q",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    sidecar = json.loads((run_dir / "model.json").read_text())
    assert (sidecar["training"]["zoom_out"], sidecar["training"]["min_texture"]) == (2, 3.0)
    config = sidecar["config"]
    assert (config["width"], config["growth"], config["scale"], config["unshuffle"], config["levels"]) == (
        6, 1.5, 1, 4, 1,
    )  # fmt: skip


def test_denoise_deblurs_as_the_sidecar_says_unless_no_deblur(tmp_path, tiny_model_path):
    import shutil

    from test_deblur import _blurred, _shapes

    from denoisecli.deblur import blur_to_undo, deblur

    model = tmp_path / "deblurring.safetensors"
    shutil.copy(tiny_model_path, model)
    sidecar = json.loads(tiny_model_path.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**sidecar, "deblur": {}}))
    soft = np.repeat(_blurred(_shapes(), 1.5)[..., None], 3, axis=2)
    write_png(tmp_path / "soft.png", soft)
    outputs, reports = {}, {}
    for flag in ("--deblur", "--no-deblur"):
        out = tmp_path / f"{flag}.png"
        result = invoke("denoise", tmp_path / "soft.png", "-o", out, "--model", model, flag)
        assert result.exit_code == 0
        outputs[flag], reports[flag] = read_photo(out).pixels, result.output
    assert "1 measured noise-free and evenly blurred, so were deblurred instead" in reports["--deblur"]
    assert "soft.png" in reports["--deblur"] and "deblurred" not in reports["--no-deblur"]
    expected = deblur(soft.copy(), blur_to_undo(soft))  # the network (random here) never runs
    assert np.abs(outputs["--deblur"] - expected).max() <= 0.5 / 255 + 1e-6
    assert np.abs(outputs["--no-deblur"] - expected).max() > 0.1
