import pytest
import torch

from denoisecli.noise import (
    MIX_CHOICES,
    NOISE_NAMES,
    NoiseSettings,
    blur,
    corruption,
    gaussian,
    knockout,
    lower_median,
    mixed,
    salt_and_pepper,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def flat(value: float = 0.5, size: int = 128, batch: int = 2) -> torch.Tensor:
    return torch.full((batch, 3, size, size), value)


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_sigma_is_as_requested(sigma):
    noisy = gaussian(flat(), generator(), sigma)
    measured = (noisy - 0.5).std().item() * 255
    assert abs(measured - sigma) / sigma < 0.05


def test_gaussian_sigma_range_is_drawn_per_image():
    noisy = gaussian(flat(batch=8), generator(), (5.0, 50.0))
    per_image = (noisy - 0.5).flatten(1).std(dim=1) * 255
    assert per_image.min() >= 4.5 and per_image.max() <= 52 and per_image.std() > 1


def test_salt_and_pepper_fraction():
    noisy = salt_and_pepper(flat(), generator(), 0.1)
    changed = (noisy != 0.5).all(dim=1).float().mean().item()
    assert abs(changed - 0.1) / 0.1 < 0.1
    values = noisy[noisy != 0.5]
    assert set(values.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("seed", range(20))
def test_knockout_blocks_are_at_most_nine_by_nine(seed):
    # At this density exactly one block is drawn, so the zeroed area is that block.
    noisy = knockout(torch.full((1, 3, 64, 64), 0.5), generator(seed), density=0.001, max_size=9)
    zero = (noisy[0] == 0).all(dim=0)
    assert zero.any()
    rows, columns = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
    height, width = rows.max() - rows.min() + 1, columns.max() - columns.min() + 1
    assert height <= 9 and width <= 9
    assert zero.sum() == height * width  # a solid rectangle, all channels


def test_knockout_density_covers_about_that_fraction():
    noisy = knockout(flat(batch=4), generator(), density=0.05)
    covered = (noisy == 0).all(dim=1).float().mean().item()
    assert 0.03 < covered < 0.06  # overlaps make it a little under the requested density


def test_blur_preserves_the_mean():
    image = torch.rand(2, 3, 64, 64, generator=generator(3))
    blurred = blur(image, generator(), (0.5, 2.9))
    assert torch.allclose(blurred.mean(dim=(1, 2, 3)), image.mean(dim=(1, 2, 3)), atol=2e-3)
    assert blurred.std() < image.std()


@pytest.mark.parametrize("name", ("mixed",) + MIX_CHOICES)
def test_same_seed_same_tensor_different_seed_different(name):
    image = torch.rand(4, 3, 32, 32, generator=generator(9))
    noise = corruption(name, NoiseSettings())
    first, again, other = noise(image, generator(1)), noise(image, generator(1)), noise(image, generator(2))
    assert torch.equal(first, again)
    if name != "clean":
        assert not torch.equal(first, other)
    assert first.shape == image.shape


def test_mixed_draws_every_choice():
    image = torch.full((64, 3, 16, 16), 0.5)
    noisy = mixed(image, generator(), NoiseSettings(mix_weights=(1, 1, 1, 1, 1)))
    unchanged = (noisy == image).flatten(1).all(dim=1)
    assert 0 < unchanged.sum() < 64


def test_unknown_noise_is_a_value_error():
    with pytest.raises(ValueError, match="unknown noise"):
        corruption("speckle", NoiseSettings())
    assert set(NOISE_NAMES) < set(MIX_CHOICES)


@pytest.mark.parametrize("shape", [(1, 1, 9, 12), (2, 1, 31, 20), (1, 1, 3, 3)])
@pytest.mark.parametrize("step", [1, 2, 4])
def test_the_window_minimum_is_a_3x3_min_pool_of_the_valid_mask(shape, step):
    from denoisecli.noise import _window_minimum

    valid = torch.rand(*shape, generator=torch.Generator().manual_seed(step)) > 0.1
    expected = -torch.nn.functional.max_pool2d(-valid.float(), 3, stride=step) > 0
    assert torch.equal(_window_minimum(valid, step), expected)


def test_gray_gaussian_noise_is_the_same_in_every_channel_and_off_by_default():
    from denoisecli.noise import gaussian

    images = torch.full((4, 3, 16, 16), 0.5)
    plain = gaussian(images, torch.Generator().manual_seed(0), 25.0)
    assert gaussian(images, torch.Generator().manual_seed(0), 25.0, 0.0).equal(plain)  # nothing more drawn
    gray = gaussian(images, torch.Generator().manual_seed(0), 25.0, 1.0) - 0.5
    assert torch.equal(gray[:, 1], gray[:, 0]) and torch.equal(gray[:, 2], gray[:, 0])
    assert gray.std().item() == pytest.approx(25 / 255, rel=0.1)
    assert not torch.equal(plain[:, 1], plain[:, 0])


def test_gray_crops_are_luma_in_every_channel_with_one_channels_noise_and_off_by_default():
    from denoisecli.noise import as_gray, gray_photos

    images = torch.rand(64, 3, 8, 8, generator=generator(1))
    assert gray_photos(images, generator(), 0.0) is None  # nothing drawn at 0
    which = gray_photos(images, generator(), 0.5)
    assert which.shape == (64, 1, 1, 1) and 10 < int(which.sum()) < 54
    clean = as_gray(images, which)
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    chosen, kept = which.view(-1), ~which.view(-1)
    assert torch.allclose(clean[chosen], luma[chosen].unsqueeze(1).expand(-1, 3, -1, -1), atol=1e-6)
    assert torch.equal(clean[kept], images[kept])
    noisy = as_gray(gaussian(clean, generator(2), 25.0), which, channel=0)
    grays = noisy[chosen]
    assert torch.equal(grays[:, 1], grays[:, 0]) and torch.equal(grays[:, 2], grays[:, 0])
    assert not torch.equal(noisy[kept][:, 1], noisy[kept][:, 0])
    assert (noisy[chosen] - clean[chosen]).std().item() == pytest.approx(25 / 255, rel=0.1)  # the full sigma


@pytest.mark.parametrize("rows, length", [(1, 5001), (3, 640), (2, 2)])
def test_the_lower_median_is_nanmedian_of_the_kept_entries(rows, length):
    values = torch.rand(rows, length, generator=generator())
    kept = torch.rand(rows, length, generator=generator(1)) > 0.3
    kept[-1] = False  # a row that keeps nothing reads NaN, as nanmedian's all-NaN row
    expected = torch.where(kept, values, torch.nan).nanmedian(dim=1).values
    torch.testing.assert_close(lower_median(values, kept), expected, equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(lower_median(values), values.nanmedian(dim=1).values, rtol=0, atol=0)
