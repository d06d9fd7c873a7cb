import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from denoisecli.color import (
    box_filter,
    gaussian_blur,
    gray_to_lightness,
    guided_filter,
    lab_to_rgb,
    lightness_to_gray,
    rgb_to_lab,
    scale_lightness,
    smooth_chroma,
    unscale_lightness,
)


def random_colours(count: int = 4096, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 1, count, generator=generator)


def test_rgb_to_lab_matches_scikit_image():
    rgb = random_colours()
    ours = rgb_to_lab(rgb)[0, :, 0].T.numpy()
    reference = rgb2lab(rgb[0, :, 0].T.numpy()[None].astype("float64"))[0]
    assert abs(ours[:, 0] - reference[:, 0]).max() < 1e-3
    assert abs(ours[:, 1:] - reference[:, 1:]).max() < 1e-2


def test_lab_to_rgb_matches_scikit_image():
    lab = rgb_to_lab(random_colours(seed=1))
    ours = lab_to_rgb(lab)[0, :, 0].T.numpy()
    reference = lab2rgb(lab[0, :, 0].T.double().numpy()[None])[0]
    assert abs(ours - reference).max() < 1e-3


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),
    ],
)
def test_reference_values(rgb, lab):
    result = rgb_to_lab(torch.tensor(rgb).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(result, torch.tensor(lab), atol=0.02)


def test_round_trip():
    rgb = random_colours(seed=2)
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-4


def test_gray_round_trip_and_scaling():
    gray = torch.linspace(0, 1, 256).view(1, 1, 16, 16)
    assert (lightness_to_gray(gray_to_lightness(gray)) - gray).abs().max() < 1e-4
    lightness = torch.tensor([0.0, 50.0, 100.0])
    assert torch.equal(scale_lightness(lightness), torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(unscale_lightness(scale_lightness(lightness)), lightness)


def test_batched_and_out_of_range_inputs_stay_finite():
    rgb = torch.randn(3, 3, 8, 8) * 0.5 + 0.5  # unclipped noise goes below 0 and above 1
    lab = rgb_to_lab(rgb)
    assert lab.shape == (3, 3, 8, 8) and torch.isfinite(lab).all()
    assert torch.isfinite(lab_to_rgb(lab, clip=False)).all()


def test_bad_shape_names_the_shape():
    with pytest.raises(ValueError, match=r"\(2, 4, 5, 5\)"):
        rgb_to_lab(torch.rand(2, 4, 5, 5))


def test_gradcheck():
    rgb = (torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: lab_to_rgb(rgb_to_lab(x), clip=False), (rgb,))


def test_guided_filter_keeps_constants_and_follows_guide_edges():
    guide = torch.zeros(1, 1, 16, 16)
    guide[..., 8:] = 100.0
    source = guide.clone() / 10
    result = guided_filter(guide, source, radius=3, epsilon=1.0)
    assert (result - source).abs().max() < 0.2  # the edge survives
    constant = torch.full((1, 2, 16, 16), 5.0)
    assert torch.allclose(guided_filter(guide, constant, 3, 1.0), constant, atol=1e-4)


@pytest.mark.parametrize("method", ["gaussian", "guided"])
def test_chroma_smoothing_ignores_outliers(method):
    chroma = torch.full((1, 2, 24, 24), 20.0)
    chroma[..., 10:13, 10:13] = 0.0  # a knocked-out block shows up as false grey
    weights = torch.ones(1, 1, 24, 24)
    weights[..., 10:13, 10:13] = 0.0
    lightness = torch.full((1, 1, 24, 24), 50.0)
    result = smooth_chroma(chroma, lightness, weights, method)
    assert (result - 20.0).abs().max() < 0.5


def test_the_box_filter_is_the_window_mean_and_keeps_a_flat_regions_variance():
    generator = torch.Generator().manual_seed(0)
    lightness = 99.0 + 0.1 * torch.rand(1, 1, 96, 128, generator=generator)  # bright, nearly flat
    image = torch.cat([lightness, lightness.square()], dim=1).double()
    padded = torch.nn.functional.pad(image, (3, 3, 3, 3), mode="reflect")
    expected = torch.nn.functional.avg_pool2d(padded, 7, stride=1)
    for torch_path in (False, True):  # OpenCV on CPU; torch's running sums where a gradient is needed
        got = box_filter(image.float().requires_grad_(torch_path), 3).detach().double()
        assert torch.allclose(got, expected, rtol=0, atol=2e-3)
        variance = got[:, 1] - got[:, 0].square()  # the guided filter's variance of L
        true_variance = expected[:, 1] - expected[:, 0].square()  # about 0.0008
        assert (variance - true_variance).abs().max() < 0.02  # against the guided filter's epsilon of 100


@pytest.mark.parametrize("shape", [(2, 3, 40, 57), (1, 2, 9, 30), (1, 1, 5, 5)])
def test_the_opencv_and_torch_window_filters_agree(shape):
    """OpenCV serves CPU tensors that need no gradient; torch serves the rest (and images smaller
    than the window, where it replicates the edge instead of reflecting)."""
    image = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    for window_filter in (lambda x: gaussian_blur(x, 3.0), lambda x: box_filter(x, 3)):
        fast = window_filter(image)
        reference = window_filter(image.clone().requires_grad_()).detach()
        assert fast.shape == image.shape
        assert torch.allclose(fast, reference, atol=1e-5)


def test_the_guided_filters_self_weight_is_its_derivative_at_each_pixel():
    from denoisecli.color import guided_filter_self_weight

    generator = torch.Generator().manual_seed(2)
    guide = 100 * torch.rand(1, 1, 24, 28, generator=generator)
    source = 20 * torch.rand(1, 1, 24, 28, generator=generator)
    weight = guided_filter_self_weight(guide, 2, 5.0)
    base = guided_filter(guide, source, 2, 5.0)
    for row, column in [(8, 8), (12, 20), (15, 5)]:  # inside: the reflected border counts a pixel twice
        nudged = source.clone()
        nudged[0, 0, row, column] += 1.0
        change = guided_filter(guide, nudged, 2, 5.0) - base
        assert change[0, 0, row, column].item() == pytest.approx(weight[0, 0, row, column].item(), abs=1e-4)


def test_the_risk_keeps_colour_that_follows_l_and_smooths_colour_noise_that_does_not():
    from denoisecli.color import sure_guided_filter

    generator = torch.Generator().manual_seed(3)
    guide = 50 + 3 * torch.randn(1, 1, 96, 96, generator=generator)  # textured L, variance 9
    noise = torch.randn(1, 2, 96, 96, generator=generator)
    settings = [(4, 1000.0), (1, 1.0)]  # a wide mean, and a small window that follows L
    trust = torch.ones(1, 1, 96, 96)
    # Channel A: colour detail that follows L's, a little noise; channel B: flat colour, much noise.
    source = torch.cat([2 * (guide - 50) + 0.3 * noise[:, :1], 3 * noise[:, 1:]], dim=1)
    variance = torch.cat([torch.full_like(guide, 0.09), torch.full_like(guide, 9.0)], dim=1)
    chosen = sure_guided_filter(guide, source, variance, trust, settings)
    following = guided_filter(guide, source, 1, 1.0)
    smoothing = guided_filter(guide, source, 4, 1000.0)
    assert torch.equal(chosen[:, :1], following[:, :1])  # the small window keeps A's detail
    assert torch.equal(chosen[:, 1:], smoothing[:, 1:])  # the wide mean takes B's noise out
    with pytest.raises(ValueError, match="radii up to 4"):
        sure_guided_filter(guide, source, variance, trust, [(5, 1.0)])


def test_the_risk_bands_drop_their_margins_even_when_one_band_fits():
    from denoisecli.color import RISK_BAND, RISK_MARGIN, _band_starts, _risk_bands

    image = torch.arange(321.0).view(1, 1, 321, 1).expand(2, 1, 321, 3)
    starts = _band_starts(321)
    assert len(starts) == 1  # a CBSD68 photo in landscape: one band
    bands = _risk_bands(image, starts)
    assert bands.shape == (2, 1, RISK_BAND + 2 * RISK_MARGIN, 3)
    assert bands[0, 0, RISK_MARGIN, 0].item() == starts[0]
    assert _band_starts(30) == [] and torch.equal(_risk_bands(image[..., :30, :], []), image[..., :30, :])
