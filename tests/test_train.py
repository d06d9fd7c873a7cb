import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_torchrun, smooth_rgb, write_png

from denoisecli import train as training
from denoisecli.checkpoint import load_model, load_training_state
from denoisecli.errors import DenoiseError
from denoisecli.impulses import prefill_batch
from denoisecli.models import build_model
from denoisecli.train import OPTIMIZERS, SCHEDULES, TrainConfig, build_optimizer, build_scheduler, fit


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(6):
        write_png(folder / f"photo{index}.png", smooth_rgb(48, 56, seed=index))
    return folder


def tiny_config(photo_folder: Path, run_dir: Path, **changes) -> TrainConfig:
    config = TrainConfig(
        data_dirs=[str(photo_folder)],
        output_dir=str(run_dir),
        variant="skip",
        model_overrides={"width": 4},
        crop_size=32,
        batch_size=4,
        steps=6,
        validation_every=3,
        validation_crops=4,
        validation_fraction=0.3,
        test_fraction=0.0,
        workers=0,
        device="cpu",
        seed=3,
    )
    return replace(config, **changes)


def test_a_few_steps_on_a_fixed_batch_lower_the_loss():
    torch.manual_seed(0)
    model = build_model("shallow", width=8)
    clean = torch.rand(4, 1, 32, 32) * 2 - 1
    noisy = clean + 0.2 * torch.randn(4, 1, 32, 32)
    config = TrainConfig(data_dirs=[], output_dir="")
    optimizer = build_optimizer("adam", model.parameters(), 1e-2, 0.9, 0.0)
    losses = []
    for _ in range(30):
        loss = training.denoising_loss(model(noisy), clean, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.7


@pytest.mark.parametrize("optimizer_name", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_and_schedule_builds_and_steps(optimizer_name, schedule):
    model = build_model("shallow", width=4)
    optimizer = build_optimizer(optimizer_name, model.parameters(), 1e-3, 0.9, 0.0)
    scheduler = build_scheduler(optimizer, schedule, steps=10, lr_step=2, lr_drop=0.1, steps_per_epoch=5)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.rand(2, 1, 16, 16)).mean().backward()
    optimizer.step()
    scheduler.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    if schedule == "step":
        scheduler.step()
        assert scheduler.get_last_lr()[0] == pytest.approx(1e-4)


def test_out_of_range_penalty():
    inside = torch.tensor([-1.0, 0.0, 1.0])
    assert training.out_of_range_penalty(inside) == 0
    assert training.out_of_range_penalty(torch.tensor([3.0])) == pytest.approx(1.0)  # unit 2 -> (2 - 1)^2


def test_fit_writes_run_directory_and_exported_model_reproduces(photo_folder, tmp_path):
    run_dir = tmp_path / "run"
    summary = fit(tiny_config(photo_folder, run_dir))
    assert summary["steps"] == 6
    for name in ["last.pt", "best.pt", "model.safetensors", "model.json", "metrics.jsonl", "curves.png", "split.json"]:
        assert (run_dir / name).is_file(), name
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    model, sidecar = load_model(run_dir / "model.safetensors")
    assert sidecar["variant"] == "skip" and sidecar["config"]["width"] == 4
    state = load_training_state(run_dir / "best.pt")
    reference = build_model("skip", width=4)
    reference.load_state_dict(state["model"])
    reference.eval()
    x = torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_resume_continues_bit_for_bit(photo_folder, tmp_path):
    straight = tmp_path / "straight"
    fit(tiny_config(photo_folder, straight))

    interrupted = tmp_path / "interrupted"

    def stop_after_checkpoint(kind, payload):
        if kind == "step" and payload["step"] == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(photo_folder, interrupted), stop_after_checkpoint)
    assert load_training_state(interrupted / "last.pt")["step"] == 3
    fit(tiny_config(photo_folder, interrupted, resume=True))
    expected = load_training_state(straight / "last.pt")["model"]
    resumed = load_training_state(interrupted / "last.pt")["model"]
    assert all(torch.equal(expected[name], resumed[name]) for name in expected)


def test_a_time_limit_stops_the_run_with_the_rate_annealed_and_the_model_exported(photo_folder, tmp_path, monkeypatch):
    # A fake clock that advances one minute per reading makes the limit hit after a few steps.
    now = {"seconds": 0.0}

    def fake_clock():
        now["seconds"] += 60.0
        return now["seconds"]

    monkeypatch.setattr(training.time, "perf_counter", fake_clock)
    run_dir = tmp_path / "run"
    summary = fit(tiny_config(photo_folder, run_dir, steps=1000, time_limit_minutes=5))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert summary["steps"] < 10
    assert records[-1]["step"] == summary["steps"]  # the last step is validated and saved
    assert records[-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert (run_dir / "model.safetensors").exists()
    assert load_training_state(run_dir / "last.pt")["elapsed_seconds"] >= 300


def test_crops_are_exact_8_bit_values(photo_folder):
    from denoisecli.data import RandomCrops, to_unit
    from denoisecli.imageio import read_photo

    paths = sorted(photo_folder.glob("*.png"))[:1]
    crop = to_unit(RandomCrops(paths, 48, seed=0, length=1)[0].unsqueeze(0))
    levels = crop * 255
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    photo = torch.from_numpy(read_photo(paths[0]).pixels).float()
    assert crop.mean().item() == pytest.approx(photo.mean().item(), abs=0.05)


def test_noisy_crops_are_clipped_8_bit_photos_unless_drawn_unclipped():
    from denoisecli.noise import NoiseSettings, clip_to_photo

    clean = torch.full((8, 3, 16, 16), 0.98)  # near white: sigma 50 noise crosses 1 often
    gaussian_only = NoiseSettings(gaussian_sigma=(50.0, 50.0), mix_weights=(0.0, 1.0, 0.0, 0.0, 0.0))

    def noisy(unclipped: float) -> torch.Tensor:
        config = TrainConfig(data_dirs=[], output_dir="", noise=replace(gaussian_only, unclipped=unclipped))
        return training.corrupt_batch(clean, config, torch.Generator().manual_seed(0))[1]

    clipped, kept, half = noisy(0.0), noisy(1.0), noisy(0.5)
    assert clipped.max() <= 1 and torch.equal(clipped * 255, (clipped * 255).round())
    assert kept.max() > 1.1 and not torch.equal(kept * 255, (kept * 255).round())
    assert torch.equal(clipped, clip_to_photo(kept))  # the same noise, only the clipping differs
    per_crop = (half > 1).flatten(1).any(1)
    assert 0 < per_crop.sum() < 8  # a share of whole crops, not of pixels


def test_bad_inputs(photo_folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DenoiseError, match="no images found"):
        fit(tiny_config(empty, tmp_path / "run1"))
    with pytest.raises(DenoiseError, match="at least 64px"):
        fit(tiny_config(photo_folder, tmp_path / "run2", crop_size=64))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DenoiseError, match="cannot write the run directory"):
        fit(tiny_config(photo_folder, blocker / "run"))


def test_metrics_report_the_share_of_time_spent_waiting_on_data(photo_folder, tmp_path, monkeypatch):
    real_item = training.RandomCrops.__getitem__

    def slow_item(self, index):
        time.sleep(0.02)  # a loader far slower than a width-4 step on 32 px crops
        return real_item(self, index)

    fit(tiny_config(photo_folder, tmp_path / "fast"))
    fast = [json.loads(line) for line in (tmp_path / "fast" / "metrics.jsonl").read_text().splitlines()]
    monkeypatch.setattr(training.RandomCrops, "__getitem__", slow_item)
    fit(tiny_config(photo_folder, tmp_path / "slow"))
    slow = [json.loads(line) for line in (tmp_path / "slow" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= record["data_wait_fraction"] <= 1 for record in fast + slow)
    assert min(record["data_wait_fraction"] for record in slow) > 0.5
    assert max(record["data_wait_fraction"] for record in slow) > max(r["data_wait_fraction"] for r in fast)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(photo_folder, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    real_loss = training.denoising_loss
    calls = {"count": 0}

    def loss_that_explodes(output, target, config):
        calls["count"] += 1
        loss = real_loss(output, target, config)
        return loss * float("nan") if calls["count"] == 5 else loss

    monkeypatch.setattr(training, "denoising_loss", loss_that_explodes)
    with pytest.raises(DenoiseError, match="loss became nan at step 4"):
        fit(tiny_config(photo_folder, run_dir))
    assert load_training_state(run_dir / "last.pt")["step"] == 3


def test_two_process_ddp_on_gloo(photo_folder, tmp_path):
    run_dir = tmp_path / "ddp"
    result = run_torchrun(
        "train",
        str(photo_folder),
        "-o",
        str(run_dir),
        "--width",
        "4",
        "--crop-size",
        "32",
        "--batch-size",
        "4",
        "--steps",
        "4",
        "--validation-every",
        "2",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--validation-fraction",
        "0.3",
        "--test-fraction",
        "0",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr  # all of it: a rank's traceback sits above the launcher's summary
    assert load_training_state(run_dir / "last.pt")["step"] == 4
    assert (run_dir / "model.safetensors").is_file()


def test_init_from_weights_and_mismatch(photo_folder, tmp_path):
    first = tmp_path / "first"
    fit(tiny_config(photo_folder, first, steps=3))
    second = tmp_path / "second"
    fit(tiny_config(photo_folder, second, steps=3, init_from=str(first / "model.safetensors")))
    assert (second / "model.safetensors").is_file()
    with pytest.raises(DenoiseError, match="model config differs"):
        fit(tiny_config(photo_folder, tmp_path / "third", variant="noskip", init_from=str(first / "model.safetensors")))


def test_a_wider_run_starts_from_a_narrower_model_computing_its_function(photo_folder, tmp_path):
    first = tmp_path / "first"
    fit(tiny_config(photo_folder, first, steps=3))
    init = str(first / "model.safetensors")
    # One step at a vanishing rate from the same model, as it is and widened: only the batch
    # norms' running statistics move, the same way in both if the wide run starts from its function.
    one_step = {"steps": 1, "init_from": init, "learning_rate": 1e-12}
    fit(tiny_config(photo_folder, tmp_path / "narrow", **one_step))
    fit(tiny_config(photo_folder, tmp_path / "wide", model_overrides={"width": 6}, **one_step))
    narrow_model, _ = load_model(tmp_path / "narrow" / "model.safetensors")
    wide_model, sidecar = load_model(tmp_path / "wide" / "model.safetensors")
    assert sidecar["config"]["width"] == 6 and wide_model.stem[0].weight.shape[0] == 6
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(wide_model(x), narrow_model(x))
    with pytest.raises(DenoiseError, match="model config differs"):  # narrower does not fit
        fit(tiny_config(photo_folder, tmp_path / "narrower", model_overrides={"width": 3}, init_from=init))


def test_a_chroma_input_run_grows_from_an_l_only_model_and_denoises(photo_folder, tmp_path):
    from denoisecli.inference import Denoiser

    first = tmp_path / "first"
    fit(tiny_config(photo_folder, first, steps=3))
    grown = tmp_path / "grown"
    changes = {"model_overrides": {"width": 4, "chroma_input": True}, "init_from": str(first / "model.safetensors")}
    fit(tiny_config(photo_folder, grown, steps=3, **changes))
    model, sidecar = load_model(grown / "model.safetensors")
    assert sidecar["config"]["chroma_input"] and model.stem[0].weight.shape[1] == 12
    denoiser = Denoiser.load(grown / "model.safetensors", torch.device("cpu"))
    rng = np.random.default_rng(0)
    for channels in (3, 1):  # colour, and gray (whose A/B inputs are zero)
        pixels = rng.random((20, 30, channels), dtype=np.float32)
        assert denoiser.pixels(pixels).shape == pixels.shape


def test_gray_crops_reach_the_network_as_gray_photos(photo_folder, tmp_path, monkeypatch):
    from denoisecli.noise import NoiseSettings

    seen = []  # every pair corrupt_batch makes: the training steps' and the validation crops'
    original = training.corrupt_batch

    def spy(clean, config, generator):
        pair = original(clean, config, generator)
        seen.append(pair)
        return pair

    def is_gray(batch: torch.Tensor) -> bool:
        return torch.equal(batch[:, 0], batch[:, 1]) and torch.equal(batch[:, 1], batch[:, 2])

    monkeypatch.setattr(training, "corrupt_batch", spy)
    fit(tiny_config(photo_folder, tmp_path / "gray", noise=NoiseSettings(gray_crops=1.0)))
    # Every training step's crops and, so the run's validation scores what it trains for, the
    # validation crops too: clean and noisy alike.
    assert len(seen) > 6 and all(is_gray(clean) and is_gray(noisy) for clean, noisy in seen)
    seen.clear()
    fit(tiny_config(photo_folder, tmp_path / "colour"))
    assert not any(is_gray(clean) for clean, _ in seen)


def test_the_restore_loss_trains_through_the_init_models_post_steps(photo_folder, tmp_path):
    with pytest.raises(DenoiseError, match="--restore-loss .* give --init"):
        fit(tiny_config(photo_folder, tmp_path / "no-init", restore_loss=1.0))
    first = tmp_path / "first"
    fit(tiny_config(photo_folder, first, steps=3))
    sidecar = json.loads((first / "model.json").read_text())
    sidecar["color"]["restore"]["wiener"] = {"block": 8, "stride": 4, "from_noise": [0.0, 0.0]}
    sidecar["deblur"] = {"max_sigma": 2.5}
    (first / "model.json").write_text(json.dumps(sidecar))
    second = tmp_path / "second"
    summary = fit(tiny_config(photo_folder, second, init_from=str(first / "model.safetensors"), restore_loss=1.0))
    exported = json.loads((second / "model.json").read_text())
    assert exported["color"] == sidecar["color"]  # the post steps it was trained through
    assert exported["deblur"] == sidecar["deblur"]
    assert exported["training"]["restore_loss"] == 1.0
    assert exported["training"]["init"] == str(first / "model.safetensors")
    assert exported["training"]["noise"]["mix_weights"] == [1.0, 4.0, 1.0, 1.0, 1.0]  # the recipe, noise and all
    assert np.isfinite(summary["best_validation_psnr"])
    # A resumed run trains through the steps its directory kept: no --init needed, and a changed
    # --init model does not change them mid-run.
    (first / "model.json").write_text(json.dumps({**sidecar, "deblur": {"max_sigma": 1.0}}))
    fit(tiny_config(photo_folder, second, steps=9, restore_loss=1.0, resume=True))
    assert load_training_state(second / "last.pt")["step"] == 9
    resumed = tiny_config(
        photo_folder, second, restore_loss=1.0, resume=True, init_from=str(first / "model.safetensors")
    )
    assert training.post_steps(resumed, second) == {"color": sidecar["color"], "deblur": sidecar["deblur"]}


def test_a_run_through_post_steps_that_fill_impulses_trains_on_filled_crops(photo_folder, tmp_path, monkeypatch):
    from denoisecli.noise import NoiseSettings

    first = tmp_path / "first"
    fit(tiny_config(photo_folder, first, steps=3))
    sidecar = json.loads((first / "model.json").read_text())
    settings = {"threshold": 0.3, "least_share": 0.001}
    sidecar["color"]["restore"]["prefill_impulses"] = settings
    (first / "model.json").write_text(json.dumps(sidecar))
    calls = []

    def spy(noisy, given):
        filled = prefill_batch(noisy, given)
        calls.append((given, noisy.shape[0], not torch.equal(filled, noisy)))
        return filled

    monkeypatch.setattr(training, "prefill_batch", spy)
    salt_and_pepper_only = NoiseSettings(mix_weights=(0.0, 0.0, 1.0, 0.0, 0.0))
    init = str(first / "model.safetensors")
    fit(tiny_config(photo_folder, tmp_path / "second", init_from=init, restore_loss=1.0, noise=salt_and_pepper_only))
    # The validation crops once, then every one of the 6 training batches; each had salt to fill.
    assert [(given, filled) for given, _, filled in calls] == [(settings, True)] * 7
    calls.clear()
    fit(tiny_config(photo_folder, tmp_path / "third", noise=salt_and_pepper_only))  # no post steps inherited
    assert calls and all(given is None for given, _, _ in calls)


def test_a_run_computes_on_the_threads_it_is_given_and_gives_the_rest_back(photo_folder, tmp_path):
    before = torch.get_num_threads()
    seen = []
    fit(
        tiny_config(photo_folder, tmp_path / "run", threads=1),
        lambda kind, payload: seen.append(torch.get_num_threads()),
    )
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    # Beside a GPU one thread unless told; on the CPU PyTorch's choice.
    config = TrainConfig(data_dirs=[], output_dir="")
    assert training.training_threads(config, torch.device("cuda")) == 1
    assert training.training_threads(config, torch.device("cpu")) is None
    assert training.training_threads(replace(config, threads=3), torch.device("cuda")) == 3
