import json

import numpy as np
import pytest
from conftest import smooth_rgb, write_png
from PIL import Image
from typer.testing import CliRunner

from denoisecli.cli import app
from denoisecli.report import CELL, HEADER

runner = CliRunner()


@pytest.fixture
def test_folder(tmp_path):
    folder = tmp_path / "test"
    folder.mkdir()
    for index in range(3):
        write_png(folder / f"img{index}.png", smooth_rgb(40, 48, seed=10 + index))
    return folder


def run(*args):
    return runner.invoke(app, ["evaluate", *[str(a) for a in args]])


def test_seed_protocol_table_json_markdown_panel(test_folder, tmp_path, tiny_model_path):
    report_dir = tmp_path / "report"
    result = run(test_folder, "--model", tiny_model_path, "--baseline", "median", "-o", report_dir, "--json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    model_label = str(tiny_model_path).removesuffix(".safetensors")
    cases = {row["case"] for row in data["rows"] if row["method"] == model_label}
    assert cases == {"clean", "gaussian", "saltpepper", "blur", "knockout", "average5"}
    assert any(row["method"] == "median" for row in data["rows"])
    for row in data["rows"]:  # per-photo PSNRs, in the order of "images", whose mean is the row's
        assert len(row["psnr_per_image"]) == len(data["images"])
        assert np.mean(row["psnr_per_image"]) == pytest.approx(row["psnr_mean"], abs=1e-3)
    assert (report_dir / "results.json").is_file()
    assert "| median | average5 |" in (report_dir / "report.md").read_text()
    panel = Image.open(report_dir / "panel.png")
    columns, rows = 2 + 2, 2 * 5  # clean, noisy, model, median; two images x five cases
    assert panel.size == (columns * CELL, HEADER + rows * CELL)
    assert len(list((report_dir / "noisy").rglob("*.png"))) == 3 * 5


def test_same_seed_same_numbers_and_table_output(test_folder, tiny_model_path):
    first = run(test_folder, "--model", tiny_model_path, "--seed", 4, "--json", "-q")
    second = run(test_folder, "--model", tiny_model_path, "--seed", 4, "--json", "-q")
    strip = lambda out: [{k: v for k, v in r.items() if k != "seconds_per_megapixel"} for r in json.loads(out)["rows"]]  # noqa: E731
    assert strip(first.stdout) == strip(second.stdout)
    table = run(test_folder, "--baseline", "median", "-q")
    assert table.exit_code == 0 and "average5" in table.stdout


def test_the_report_names_the_networks_dtype_and_a_bad_precision_is_refused(test_folder, tiny_model_path):
    data = json.loads(run(test_folder, "--model", tiny_model_path, "--precision", "bfloat16", "--json", "-q").stdout)
    assert data["details"]["network_dtype"] == "bfloat16"
    baselines_only = json.loads(run(test_folder, "--baseline", "median", "--json", "-q").stdout)
    assert baselines_only["details"]["network_dtype"] is None
    refused = run(test_folder, "--model", tiny_model_path, "--precision", "half", "-q")
    assert refused.exit_code == 2 and "half" in refused.output


def test_a_psnr_cap_bounds_every_photo_before_the_means_and_keeps_the_uncapped_mean(test_folder, tmp_path):
    plain = json.loads(run(test_folder, "--baseline", "median", "--json", "-q").stdout)["rows"]
    report_dir = tmp_path / "capped"
    result = run(test_folder, "--baseline", "median", "--psnr-cap", 30, "--json", "-q", "-o", report_dir)
    assert result.exit_code == 0, result.output
    capped = json.loads(result.stdout)["rows"]
    by_case = {row["case"]: row for row in capped}
    for row, before in zip(capped, plain, strict=True):
        assert max(row["psnr_per_image"]) <= 30
        assert row["psnr_mean_uncapped"] == pytest.approx(before["psnr_mean"])
        assert row["psnr_mean"] <= before["psnr_mean"]
    # The smooth test photos come back from the median above 30 dB when clean: capped there.
    assert by_case["clean"]["psnr_mean"] == 30 < by_case["clean"]["psnr_mean_uncapped"]
    # The five-output average is the mean of the capped cases, not a capped mean of the raw ones.
    five = ["clean", "gaussian", "saltpepper", "blur", "knockout"]
    assert by_case["average5"]["psnr_mean"] == pytest.approx(np.mean([by_case[c]["psnr_mean"] for c in five]))
    assert "capped at 30 dB" in (report_dir / "report.md").read_text()
    assert "capped at 30 dB" in run(test_folder, "--baseline", "median", "--psnr-cap", 30, "-q").stdout
    assert run(test_folder, "--baseline", "median", "--psnr-cap", 0, "-q").exit_code == 1


def test_awgn_protocol_rows_per_sigma(test_folder, tiny_model_path):
    result = run(test_folder, "--model", tiny_model_path, "--protocol", "awgn", "--sigma", "15,50", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert {row["case"] for row in json.loads(result.stdout)["rows"]} == {"sigma15", "sigma50"}


def test_a_model_with_a_strength_suffix_is_its_own_row(test_folder):
    result = run(test_folder, "--model", "skip", "--model", "skip@inf", "--json", "-q")
    assert result.exit_code == 0, result.output
    rows = {row["method"]: row for row in json.loads(result.stdout)["rows"] if row["case"] == "clean"}
    assert set(rows) == {"skip", "skip@inf"}
    # The shipped model softens a clean photo; giving back the detail scores higher.
    assert rows["skip"]["psnr_mean"] > rows["skip@inf"]["psnr_mean"]
    result = run(test_folder, "--model", "skip@strong")
    assert result.exit_code == 1 and "must be a strength" in result.output


def test_an_ensemble_suffix_is_its_own_row_and_combines_with_a_strength(test_folder):
    result = run(test_folder, "--model", "shallow@x2", "--model", "shallow@inf@x4", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert {row["method"] for row in json.loads(result.stdout)["rows"]} == {"shallow@x2", "shallow@inf@x4"}
    result = run(test_folder, "--model", "shallow@x3")
    assert result.exit_code == 1 and "ensemble must be one of 1, 2, 4, 8" in result.output


def test_empty_folder_and_unknown_baseline_are_clear_errors(tmp_path, test_folder):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(empty, "--baseline", "median")
    assert result.exit_code == 1 and "no images to evaluate" in result.output
    result = run(test_folder, "--baseline", "bm3d")
    assert result.exit_code == 1 and "unknown baseline" in result.output


def test_gray_scoring_turns_colour_photos_to_luma_for_every_method(test_folder, tmp_path, tiny_model_path):
    report_dir = tmp_path / "gray"
    arguments = ["--model", tiny_model_path, "--baseline", "nlm", "--baseline", "median", "--baseline", "input"]
    result = run(
        test_folder, *arguments, "--gray", "--protocol", "awgn", "--sigma", 25, "-o", report_dir, "--json", "-q"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["details"]["colour"].startswith("gray")
    rows = {row["method"]: row["psnr_mean"] for row in data["rows"]}
    noisy = rows.pop("input")
    assert 19 < noisy < 22  # gray noise of sigma 25 on one channel: about 20.2 dB
    assert rows["nlm"] > noisy + 3 and rows["median"] > noisy + 3
    assert Image.open(report_dir / "panel.png").size[0] == 6 * CELL  # clean, noisy, the model, three baselines
    assert Image.open(next((report_dir / "noisy").rglob("*.png"))).mode in ("L", "I;16")
    rgb = json.loads(
        run(test_folder, "--baseline", "input", "--protocol", "awgn", "--sigma", 25, "--json", "-q").stdout
    )
    assert rgb["details"]["colour"] == "RGB"
