import pytest
import torch
from conftest import shallow_with_setting

from denoisecli.checkpoint import DEFAULT_CHROMA, DEFAULT_RESTORE, load_model
from denoisecli.color import fill_outliers, outlier_weights, rgb_to_lab
from denoisecli.errors import DenoiseError
from denoisecli.lab_noise import (
    corrected_chroma,
    lab_noise,
    lab_noise_statistics,
    lightness_correction,
    noise_was_clipped,
    rgb_noise,
    rgb_noise_level,
    rgb_noise_level_from_differences,
)
from denoisecli.pipeline import network_input, network_output_to_image

COLOURS = torch.tensor([[0.5, 0.5, 0.5], [0.8, 0.3, 0.2], [0.15, 0.35, 0.6], [0.9, 0.85, 0.1]])


def _flat_colours(side: int = 96) -> torch.Tensor:
    """The four colours side by side, each a flat square: 1 x 3 x side x 4 side."""
    return torch.cat([colour.view(1, 3, 1, 1).expand(1, 3, side, side) for colour in COLOURS], dim=-1)


def _noisy(clean: torch.Tensor, sigma: float, seed: int, clip: bool = False) -> torch.Tensor:
    noisy = clean + sigma * torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))
    return noisy.clamp(0, 1) if clip else noisy


@pytest.mark.parametrize("clipped", [False, True])
def test_the_bias_and_slopes_are_what_sampled_noise_gives(clipped):
    sigma, draws = 0.06, 50000  # about sigma 15: six points are exact to sampling error here
    centre = COLOURS.view(4, 3, 1, 1)
    samples = _noisy(centre.expand(4, 3, 1, draws), sigma, 0, clip=clipped)
    lab_clean, lab_noisy = rgb_to_lab(centre), rgb_to_lab(samples)
    noise = lab_noisy - lab_clean
    statistics = lab_noise_statistics(lab_clean, torch.full((4,), sigma), clipped)
    bias = statistics.bias[..., 0, 0]
    assert torch.allclose(bias, noise.mean(dim=(2, 3)), atol=0.15)  # LAB units; 2-sample std ~0.07
    assert bias[:, 1:].abs().max() > 0.4  # a real bias, not zero by construction
    centred = (noise - noise.mean(dim=(2, 3), keepdim=True))[..., 0, :]  # 4 x 3 x draws
    covariance = centred @ centred.transpose(1, 2) / draws  # 4 x 3 x 3
    sampled_chroma_slope = covariance[:, 1:, 0] / covariance[:, :1, 0]
    assert torch.allclose(statistics.chroma_slope[..., 0, 0], sampled_chroma_slope, atol=0.1)
    assert statistics.chroma_slope.abs().min() > 0.2  # grey: about -1.4 and +1.2
    sampled_lightness_slope = torch.linalg.solve(covariance[:, 1:, 1:], covariance[:, 1:, 0])
    assert torch.allclose(statistics.lightness_slope[..., 0, 0], sampled_lightness_slope, atol=0.06)
    sampled_variance = torch.diagonal(covariance[:, 1:, 1:], dim1=1, dim2=2)
    assert torch.allclose(statistics.chroma_variance[..., 0, 0], sampled_variance, rtol=0.15)


def test_the_correction_takes_the_bias_and_most_of_the_noise_out_of_a_and_b():
    clean = _flat_colours()
    noisy = _noisy(clean, 25 / 255, 1, clip=True)
    lab_clean, lab_noisy = rgb_to_lab(clean), rgb_to_lab(noisy)
    lightness = lab_clean[:, :1]  # a perfect L, so L's noise is known
    weights = outlier_weights(lab_noisy[:, :1], lightness)
    filled = fill_outliers(lab_noisy[:, 1:], weights, DEFAULT_CHROMA["fill_sigma"])
    noise = lab_noise(rgb_noise(noisy), lightness, filled)
    corrected = corrected_chroma(lab_noisy, lightness, filled, weights, noise)
    for chroma, side in [(filled, 0), (corrected, 1)]:
        error = (chroma - lab_clean[:, 1:])[..., 8:-8, 8:-8]  # away from the colours' borders
        squares = error.unflatten(-1, (4, -1))  # 1 x 2 x H x 4 x W/4: one square per colour
        bias = squares.mean(dim=(2, 4)).abs().max()
        if side == 0:
            bias_before, power_before = bias, error.square().mean()
        else:
            assert bias < 0.5 * bias_before  # 2.2 -> 0.7 LAB units at the worst of the four colours
            assert error.square().mean() < 0.85 * power_before  # 0.79: L's share of the noise is out


def test_a_noise_free_photo_reads_no_noise_and_the_pipeline_leaves_it_as_without_the_correction():
    clean = _flat_colours(16)
    assert rgb_noise(clean) is None
    lab, lightness = network_input(clean)
    restore = {**DEFAULT_RESTORE, "impulse_threshold": 6.0}
    plain = network_output_to_image(lab, lightness, DEFAULT_CHROMA, restore)
    for switches in [{"lab_noise": True}, {"lab_noise": True, "lightness_from_chroma": True}]:
        assert torch.equal(network_output_to_image(lab, lightness, DEFAULT_CHROMA, {**restore, **switches}), plain)


def test_a_b_noise_predicts_part_of_l_noise_and_impulses_take_no_correction():
    clean = _flat_colours()
    noisy = _noisy(clean, 25 / 255, 5, clip=True)
    noisy[..., 40, 40] = 1.0  # a salt impulse
    lab_clean, lab_noisy = rgb_to_lab(clean), rgb_to_lab(noisy)
    noise = lab_noise(rgb_noise(noisy), lab_clean[:, :1], lab_noisy[:, 1:])
    correction = lightness_correction(lab_noisy, noise)
    before = (lab_noisy[:, :1] - lab_clean[:, :1])[..., 8:-8, 8:-8]
    after = (lab_noisy[:, :1] - correction - lab_clean[:, :1])[..., 8:-8, 8:-8]
    assert after.var() < 0.8 * before.var()  # about 0.65 on these colours
    assert correction[..., 38:43, 38:43].abs().max() == 0


def test_the_noise_level_is_read_off_rgb_and_the_clipping_off_its_range():
    clean = _flat_colours(64)
    assert rgb_noise_level(_noisy(clean, 0.05, 2)).item() == pytest.approx(0.05, rel=0.1)
    assert noise_was_clipped(_noisy(clean, 0.1, 3, clip=True))
    assert not noise_was_clipped(_noisy(clean, 0.1, 3))


def test_grey_texture_reads_as_noise_in_the_channels_but_not_in_their_differences():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    texture = (0.5 + 0.15 * torch.sin(x * 2.1) * torch.cos(y * 1.7)).expand(1, 3, 64, 64)  # fine grey texture
    assert rgb_noise_level(texture).item() > 0.02
    assert rgb_noise_level_from_differences(texture).item() < 1e-3
    noisy = _noisy(_flat_colours(64), 0.05, 6)
    assert rgb_noise_level_from_differences(noisy).item() == pytest.approx(0.05, rel=0.1)


def test_the_pipeline_corrects_chroma_only_when_the_sidecar_says_so():
    clean = _flat_colours(32)
    noisy = _noisy(clean, 30 / 255, 4, clip=True)
    lab, lightness = network_input(noisy)
    output = network_input(clean)[1]  # a perfect "model"
    restore = {**DEFAULT_RESTORE, "impulse_threshold": 6.0}
    plain = network_output_to_image(lab, output, DEFAULT_CHROMA, restore)
    assert torch.equal(plain, network_output_to_image(lab, output, DEFAULT_CHROMA, {**restore, "lab_noise": False}))
    corrected = network_output_to_image(lab, output, DEFAULT_CHROMA, {**restore, "lab_noise": True}, noisy)
    assert (corrected - clean).square().mean() < 0.9 * (plain - clean).square().mean()  # 0.78
    # Without the RGB the pipeline converts it back from LAB: the same output.
    again = network_output_to_image(lab, output, DEFAULT_CHROMA, {**restore, "lab_noise": True})
    assert torch.allclose(again, corrected, atol=1e-5)
    # L's detail is given back from a less noisy L with the share A/B's noise predicts taken out.
    both = {**restore, "lab_noise": True, "lightness_from_chroma": True}
    lightness = network_output_to_image(lab, output, DEFAULT_CHROMA, both, noisy)
    assert (lightness - clean).square().mean() < 0.95 * (corrected - clean).square().mean()
    assert torch.equal(network_output_to_image(lab, output, DEFAULT_CHROMA, {**both, "lab_noise": False}), plain)


def test_a_sidecar_with_a_bad_lab_noise_setting_is_a_one_line_error(tmp_path):
    target = shallow_with_setting(tmp_path, "restore", "lab_noise", "yes")
    with pytest.raises(DenoiseError, match="lab_noise must be true or false") as error:
        load_model(target)
    assert "\n" not in str(error.value)


def test_the_pipeline_chooses_the_chroma_filter_by_risk_only_with_the_lab_noise_model():
    clean = _flat_colours(32)
    noisy = _noisy(clean, 30 / 255, 4, clip=True)
    lab = network_input(noisy)[0]
    output = network_input(clean)[1]
    restore = {**DEFAULT_RESTORE, "impulse_threshold": 6.0, "lab_noise": True}
    fixed = network_output_to_image(lab, output, DEFAULT_CHROMA, restore, noisy)
    choosing = {**DEFAULT_CHROMA, "choose_by_risk": [[3, 100.0], [1, 1.0]]}
    chosen = network_output_to_image(lab, output, choosing, restore, noisy)
    assert not torch.equal(chosen, fixed)  # flat colours: the risk takes the other setting here
    assert (chosen - clean).square().mean() <= (fixed - clean).square().mean() * 1.05
    without_model = {**restore, "lab_noise": False}  # no noise variance: the fixed setting
    assert torch.equal(
        network_output_to_image(lab, output, choosing, without_model),
        network_output_to_image(lab, output, DEFAULT_CHROMA, without_model),
    )


@pytest.mark.parametrize("choices", [[], [[5, 1.0]], [[3, 0]], [3, 100.0], "all"])
def test_a_sidecar_with_bad_risk_choices_is_a_one_line_error(tmp_path, choices):
    target = shallow_with_setting(tmp_path, "chroma", "choose_by_risk", choices)
    with pytest.raises(DenoiseError, match="choose_by_risk must be a list") as error:
        load_model(target)
    assert "\n" not in str(error.value)
