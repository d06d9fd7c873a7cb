import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from denoisecli import wiener
from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE, load_model, resolve_model_path
from denoisecli.color import gaussian_blur
from denoisecli.errors import DenoiseError
from denoisecli.metrics import psnr
from denoisecli.pipeline import network_input, network_output_to_image
from denoisecli.wiener import check_wiener_settings, dct_matrix, dct_wiener, window_dct_matrix


@pytest.fixture(params=["tilings", "grids"])
def route(request, monkeypatch):
    """The test runs on each of the filter's two routes: a CPU's (tilings) and a GPU's (grids),
    both here on the CPU."""
    monkeypatch.setattr(wiener, "ROUTE", request.param)
    return request.param


def _textured(size: int = 64) -> torch.Tensor:
    """A gray scene in [-1, 1] with edges and fine texture: what a smoothing network loses."""
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    scene = 0.4 * torch.sin(x / 2.0) * torch.cos(y / 3.0) + 0.3 * (x > size / 2).float() - 0.2
    return scene[None, None]


def test_the_window_dct_is_the_orthonormal_2d_dct_of_the_window():
    window = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    matrix = dct_matrix(8)
    assert torch.allclose(matrix @ matrix.T, torch.eye(8), atol=1e-6)
    transform = window_dct_matrix(8)
    assert torch.allclose(transform @ window.flatten(), (matrix @ window @ matrix.T).flatten(), atol=1e-5)
    assert torch.allclose(transform.T @ transform, torch.eye(64), atol=1e-5)


@pytest.mark.parametrize(("stride", "quincunx"), [(1, False), (2, False), (4, False), (2, True), (4, True)])
def test_the_filter_is_the_window_by_window_wiener_filter_it_describes(stride, quincunx, route):
    block, sigma, generator = 4, 0.2, torch.Generator().manual_seed(5)
    noisy, pilot = torch.rand(2, 1, 1, 13, 11, generator=generator)
    bottom, right = block + (-(13 + block) % stride), block + (-(11 + block) % stride)
    padded = [F.pad(image, (block, right, block, bottom), mode="reflect")[0, 0] for image in (noisy, pilot)]
    matrix = dct_matrix(block)
    total, coverage = torch.zeros_like(padded[0]), torch.zeros_like(padded[0])
    height, width = padded[0].shape
    grid = [(top, left) for top in range(0, height, stride) for left in range(0, width, stride)]
    centres = [(top + stride // 2, left + stride // 2) for top, left in grid] if quincunx else []
    for top, left in grid + centres:
        if top + block <= height and left + block <= width:  # whole windows only
            values, power = (matrix @ p[top : top + block, left : left + block] @ matrix.T for p in padded)
            gain = power**2 / (power**2 + sigma**2)
            gain[0, 0], values[0, 0] = 1.0, power[0, 0]
            weight = 1 / gain.square().sum()
            total[top : top + block, left : left + block] += weight * (matrix.T @ (values * gain) @ matrix)
            coverage[top : top + block, left : left + block] += weight
    expected = (total / coverage)[block : block + 13, block : block + 11]
    got = dct_wiener(noisy, pilot, torch.tensor([sigma]), 1.0, block, stride, quincunx)[0, 0]
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 1, 37, 50), (2, 1, 16, 9)])
def test_strength_zero_keeps_all_the_detail_and_the_pilots_means_at_any_size(shape, route):
    noisy = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    sigma = torch.full((shape[0],), 0.1)
    assert torch.allclose(dct_wiener(noisy, noisy, sigma, 0.0, 8, 2), noisy, atol=1e-5)
    brighter = dct_wiener(noisy, noisy + 0.25, sigma, 0.0, 8, 2)  # only the means differ
    assert torch.allclose(brighter, noisy + 0.25, atol=1e-5)


def test_an_oversmoothed_pilot_gets_its_texture_back_without_the_noise():
    clean = _textured()
    sigma = 0.1
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    pilot = gaussian_blur(clean, 1.5)  # texture gone, as the network leaves it
    filtered = dct_wiener(noisy, pilot, torch.tensor([sigma]))
    score = lambda image: psnr((image + 1) / 2, (clean + 1) / 2).item()  # noqa: E731
    assert score(filtered) > max(score(pilot), score(noisy)) + 1.0


@pytest.mark.parametrize(
    "settings",
    [
        {"block": 1, "stride": 1},
        {"block": 8, "stride": 9},
        {"block": 8, "stride": 3},
        {"block": 8, "stride": 1, "quincunx": True},
        {"block": 8, "stride": 4, "quincunx": "yes"},
        {"block": 8},
        "x",
        {"block": 8, "stride": 4, "from_noise": [2.0, 1.0]},
        {"block": 8, "stride": 4, "from_noise": 1.0},
        {"block": 8, "stride": 4, "repeat": [12.0, 8.0]},
        {"block": 8, "stride": 4, "repeat": [8.0, 10.0, 12.0]},
        {"block": 8, "stride": 4, "repeat": 8.0},
        {"block": 8, "stride": 4, "repeat": [8.0, 12.0], "repeat_floor": "yes"},
    ],
)
def test_wiener_settings_need_a_block_and_a_stride_that_fits_it(settings):
    with pytest.raises(ValueError, match="wiener"):
        check_wiener_settings(settings)


def test_a_sidecar_with_bad_wiener_settings_is_a_one_line_error(tmp_path):
    weights = resolve_model_path("shallow")
    target = tmp_path / "bad.safetensors"
    shutil.copy(weights, target)
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    sidecar.setdefault("color", {}).setdefault("restore", {})["wiener"] = {"block": 8, "stride": 0}
    target.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(DenoiseError, match="wiener needs") as error:
        load_model(target)
    assert "\n" not in str(error.value)


def test_the_pipeline_switches_l_to_the_wiener_filter_and_keeps_knocked_out_blocks_out():
    clean = ((_textured() + 1) / 2).expand(1, 3, -1, -1).clone()
    noisy = (clean + 0.05 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    noisy[..., 20:24, 20:24] = 0.0  # a knocked-out block: saturated, too big to be an isolated impulse
    lab, lightness = network_input(noisy)
    output = gaussian_blur(lightness, 1.0)  # a blurring "model"
    wiener = {**DEFAULT_RESTORE, "impulse_threshold": 6.0, "wiener": {"block": 8, "stride": 4}}
    local = {**DEFAULT_RESTORE, "impulse_threshold": 6.0}
    with_wiener = network_output_to_image(lab, output, DEFAULT_CHROMA, wiener)
    without = network_output_to_image(lab, output, DEFAULT_CHROMA, local)
    assert not torch.allclose(with_wiener, without, atol=1e-3)
    # The block enters the filter with the model's values, so none of its black comes back.
    assert torch.allclose(with_wiener[..., 20:24, 20:24], without[..., 20:24, 20:24], atol=0.02)


def test_the_filter_takes_over_from_the_local_gain_only_as_the_noise_rises():
    clean = ((_textured() + 1) / 2).expand(1, 3, -1, -1).clone()
    noisy = (clean + 0.08 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    local = {**DEFAULT_RESTORE}
    always = {**local, "wiener": {"block": 8, "stride": 4}}
    from_noise = {**local, "wiener": {"block": 8, "stride": 4, "from_noise": [1.0, 2.0]}}
    for image, expected, other in [(clean, local, always), (noisy, always, local)]:  # noise ~0, and well above 2
        lab, lightness = network_input(image)
        output = gaussian_blur(lightness, 1.0)
        got = network_output_to_image(lab, output, DEFAULT_CHROMA, from_noise)
        assert torch.allclose(got, network_output_to_image(lab, output, DEFAULT_CHROMA, expected), atol=1e-6)
        assert not torch.allclose(got, network_output_to_image(lab, output, DEFAULT_CHROMA, other), atol=1e-3)


def test_filtering_again_with_the_first_output_as_the_pilot_gives_more_texture_back():
    clean = _textured()
    sigma = 0.05  # a light noise: the pilot is further from the truth than the first output
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    pilot = gaussian_blur(clean, 1.5)  # texture gone, as the network leaves it
    once = dct_wiener(noisy, pilot, torch.tensor([sigma]))
    twice = dct_wiener(noisy, once, torch.tensor([sigma]))
    score = lambda image: psnr((image + 1) / 2, (clean + 1) / 2).item()  # noqa: E731
    assert score(twice) > score(once) + 0.5


def test_the_second_pass_runs_below_the_repeat_range_and_fades_out_above_it():
    clean = ((_textured() + 1) / 2).expand(1, 3, -1, -1).clone()
    noisy = (clean + 0.08 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    lab, lightness = network_input(noisy)
    output = gaussian_blur(lightness, 1.0)
    once = {**DEFAULT_RESTORE, "wiener": {"block": 8, "stride": 4}}
    repeated = lambda bounds: {**once, "wiener": {**once["wiener"], "repeat": bounds}}  # noqa: E731
    got = {
        bounds: network_output_to_image(lab, output, DEFAULT_CHROMA, repeated(bounds))
        for bounds in [(99.0, 99.0), (0.0, 0.0), (0.0, 99.0)]
    }
    single = network_output_to_image(lab, output, DEFAULT_CHROMA, once)
    assert torch.allclose(got[(0.0, 0.0)], single, atol=1e-6)  # the noise (about 4) is above the range
    assert not torch.allclose(got[(99.0, 99.0)], single, atol=1e-3)  # below it: a second pass
    between = got[(0.0, 99.0)]  # part of the way: between the two
    assert (between - single).abs().mean() < (got[(99.0, 99.0)] - single).abs().mean()
    assert not torch.allclose(between, single, atol=1e-4)


def test_the_second_pass_is_the_filter_run_again_on_its_own_output(route):
    generator = torch.Generator().manual_seed(5)
    noisy = torch.rand(2, 1, 37, 50, generator=generator)
    pilot = noisy + 0.1 * torch.rand(noisy.shape, generator=generator)
    sigma = torch.tensor([0.1, 0.2])
    once = dct_wiener(noisy, pilot, sigma, 1.0, 8, 4, True)
    twice = dct_wiener(noisy, once, sigma, 1.0, 8, 4, True)
    got = dct_wiener(noisy, pilot, sigma, 1.0, 8, 4, True, repeat=torch.tensor([1.0, 0.25]))
    assert torch.allclose(got[0], twice[0], atol=1e-6)
    assert torch.allclose(got[1], torch.lerp(once[1], twice[1], 0.25), atol=1e-6)
    assert torch.equal(dct_wiener(noisy, pilot, sigma, 1.0, 8, 4, True, repeat=torch.zeros(2)), once)


def test_with_the_floor_a_clean_texture_read_as_noisy_loses_no_more_in_the_second_pass():
    clean = _textured()
    pilot = clean + 0.01 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(6))  # a good network
    sigma = torch.tensor([0.3])  # texture read as strong noise
    score = lambda image: psnr((image + 1) / 2, (clean + 1) / 2).item()  # noqa: E731
    once = dct_wiener(clean, pilot, sigma)
    again = dct_wiener(clean, pilot, sigma, repeat=torch.ones(1))
    floored = dct_wiener(clean, pilot, sigma, repeat=torch.ones(1), floor=True)
    assert score(again) < score(once) - 0.5  # the first output's shrunken texture shrinks it again
    assert score(floored) >= score(once) - 0.02


@pytest.mark.parametrize("floor", [False, True])
def test_with_autograd_the_filter_gives_the_same_output_and_a_gradient_to_the_pilot(floor, route):
    # train --restore-loss backpropagates through the filter; inference keeps its in-place steps.
    generator = torch.Generator().manual_seed(7)
    noisy = torch.rand(2, 1, 30, 41, generator=generator)
    pilot = noisy + 0.1 * torch.rand(noisy.shape, generator=generator)
    sigma, repeat = torch.tensor([0.1, 0.2]), torch.tensor([1.0, 0.5])
    expected = dct_wiener(noisy, pilot, sigma, 1.0, 8, 4, True, repeat=repeat, floor=floor)
    tracked = pilot.clone().requires_grad_()
    got = dct_wiener(noisy, tracked, sigma, 1.0, 8, 4, True, repeat=repeat, floor=floor)
    got.square().sum().backward()
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.isfinite(tracked.grad).all() and tracked.grad.abs().sum() > 0


@pytest.mark.parametrize("floor", [False, True])
def test_the_filters_gradient_is_its_derivative(floor, route):
    # Autograd through in-place adds into views of the window sums: checked against finite differences.
    generator = torch.Generator().manual_seed(8)
    noisy = torch.rand(1, 1, 10, 13, generator=generator, dtype=torch.float64)
    pilot = (noisy + 0.1 * torch.rand(noisy.shape, generator=generator, dtype=torch.float64)).requires_grad_()
    sigma = torch.tensor([0.1], dtype=torch.float64)

    def filtered(pilot):
        return dct_wiener(noisy, pilot, sigma, 1.0, 4, 2, True, repeat=torch.ones(1), floor=floor)

    assert torch.autograd.gradcheck(filtered, (pilot,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("floor", [False, True])
def test_both_routes_give_the_same_output_and_gradient(floor, monkeypatch):
    # A GPU takes the grids (a fifth of the operations), a CPU the tilings (twice as fast there).
    generator = torch.Generator().manual_seed(9)
    noisy = torch.rand(3, 1, 45, 38, generator=generator)
    pilot = noisy + 0.1 * torch.rand(noisy.shape, generator=generator)
    sigma, repeat = torch.tensor([0.1, 0.2, 0.05]), torch.tensor([1.0, 0.5, 0.0])

    def filtered_with_gradient():
        tracked = pilot.clone().requires_grad_()
        output = dct_wiener(noisy, tracked, sigma, 0.8, 8, 4, True, repeat=repeat, floor=floor)
        output.square().sum().backward()
        return output.detach(), tracked.grad

    monkeypatch.setattr(wiener, "ROUTE", "tilings")
    tilings = filtered_with_gradient()
    monkeypatch.setattr(wiener, "ROUTE", "grids")
    grids = filtered_with_gradient()
    assert torch.allclose(grids[0], tilings[0], atol=1e-5)
    assert torch.allclose(grids[1], tilings[1], atol=1e-4)
