"""Salt-and-pepper taken out before the network: isolated black or white pixels filled from their
neighbours in the photo itself.

The restore step (``detail.isolated_impulses``) fills impulses after the network, from the
network's output around them; but the network has already spread each impulse into its
neighbours by then, and on validation most of a salt-and-pepper photo's remaining error sat on
the impulses and the pixels next to them. Filling them first, from the noisy photo, hands the
network a photo with a little interpolation where the impulses were: with the impulses' true
positions, validation's salt-and-pepper case gained 1.2 dB for the default (docs/RESULTS.md,
"Salt-and-pepper filled before the network").

An impulse here is a pixel at exactly black or exactly white in every channel (as salt-and-pepper
and a dead or hot pixel write it), with at most ``most_same`` of its 8 neighbours at the same
extreme (a clipped highlight or a knockout block is a cluster, not an impulse) and those not on
opposite sides (a clipped line one pixel wide is detail, as the restore step's fill has it), at least
``least_neighbours`` neighbours that are neither black nor white to fill it from, and their mean
more than ``threshold`` (0-1 luma) away from it: a pixel clipped to black by Gaussian noise in a
dark area sits near its neighbours and is left to the network. Two guards are per photo: fewer
than ``least_share`` of its pixels so found, and nothing is filled (a clean photo's few black or
white specks are real); a luma noise above ``most_noise`` (0-255, read where no window holds a
black or white pixel), and nothing is filled either: strong Gaussian noise clips gray photos'
dark pixels to black often enough to pass the share, and those are noise the network knows, not
impulses. At a noise of 12 a departure of 0.3 is over six standard deviations.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from denoisecli.deblur import luma
from denoisecli.detail import line_through
from denoisecli.noise import estimate_noise_level
from denoisecli.noise import luma as batch_luma

PREFILL_KEYS = {"threshold", "most_same", "least_neighbours", "least_share", "most_noise", "from_opposite"}
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
_RING_ORDER = [0, 1, 2, 4, 7, 6, 5, 3]  # _NEIGHBOURS going round the pixel from its top left
_OUTSIDE = 2  # the kind of a pixel past the photo's edge: neither an extreme nor a neighbour to fill from


def check_prefill_settings(value) -> None:
    """Raise ValueError unless ``value`` (a sidecar's ``restore.prefill_impulses``) is None or a
    dict of ``threshold`` (0-1) with optional ``most_same`` (0-8), ``least_neighbours`` (1-8),
    ``least_share`` (0-1) and ``most_noise`` (0-255)."""
    if value is None:
        return
    try:
        valid = (
            isinstance(value, dict)
            and "threshold" in value
            and set(value) <= PREFILL_KEYS
            and 0 <= float(value["threshold"]) <= 1
            and 0 <= int(value.get("most_same", 2)) <= 8
            and 1 <= int(value.get("least_neighbours", 3)) <= 8
            and 0 <= float(value.get("least_share", 0)) <= 1
            and 0 <= float(value.get("most_noise", 0)) <= 255
            and isinstance(value.get("from_opposite", False), bool)
        )
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "prefill_impulses must be {'threshold': 0-1} with optional 'most_same' 0-8, 'least_neighbours' 1-8, "
            f"'least_share' 0-1, 'most_noise' 0-255 and 'from_opposite' true or false, got {value!r}"
        )


def prefill_impulses(
    pixels: np.ndarray,
    threshold: float,
    most_same: int = 2,
    least_neighbours: int = 3,
    least_share: float = 0.0,
    most_noise: float | None = None,
    from_opposite: bool = False,
) -> np.ndarray:
    """``pixels`` (H x W x C float in [0, 1]) with its isolated black and white pixels replaced by
    the mean of their neighbours that are neither (module docstring); ``pixels`` itself when there
    is nothing to fill. Only the pixels whose first channel is black or white are looked at, so a
    photo without any costs one comparison per pixel (benchmarks/prefill_speed.py).

    With ``from_opposite`` a pixel with fewer than ``least_neighbours`` such neighbours also
    counts those at the other extreme: salt in a black area (a clipped shadow, a night sky) is
    filled black, where it was left to the network (docs/RESULTS.md, "Rule GC's result")."""
    height, width = pixels.shape[:2]
    extreme_first = np.abs(pixels[..., 0] - 0.5) == 0.5  # black or white in the first channel
    if not extreme_first.any():
        return pixels
    rows, columns = np.nonzero(extreme_first)
    own = _kind(pixels[rows, columns])
    rows, columns, own = rows[own != 0], columns[own != 0], own[own != 0]
    if not len(rows):
        return pixels
    # Every pixel's kind (1 white, -1 black, 0 neither, _OUTSIDE past the edge), so a clipped
    # area's pixels, each with many neighbours of its own kind, are dropped before any values
    # are gathered: most extreme pixels of a photo with clipped areas are in them.
    kind = np.zeros((height + 2, width + 2), dtype=np.int8)
    kind[[0, -1], :] = kind[:, [0, -1]] = _OUTSIDE
    kind[rows + 1, columns + 1] = own
    neighbours = [kind[rows + 1 + dy, columns + 1 + dx] for dy, dx in _NEIGHBOURS]
    alike = np.stack([neighbour == own for neighbour in neighbours], axis=1)  # n x 8
    # A clipped line one pixel wide (a wire against the sky) stays, as in the restore step's fill.
    in_a_line = line_through(torch.from_numpy(alike[:, _RING_ORDER])).numpy()
    isolated = (alike.sum(axis=1) <= most_same) & ~in_a_line
    extremes = rows, columns  # all of them, for the noise reading
    rows, columns, own = rows[isolated], columns[isolated], own[isolated]
    count = np.zeros(len(rows), dtype=np.int8)
    opposite = np.zeros(len(rows), dtype=np.int8)
    total = np.zeros((len(rows), pixels.shape[-1]), dtype=np.float32)
    for (dy, dx), neighbour in zip(_NEIGHBOURS, neighbours, strict=True):
        near = neighbour[isolated]
        usable = near == 0
        count += usable
        if from_opposite:
            opposite += near == -own
        row, column = (rows + dy).clip(0, height - 1), (columns + dx).clip(0, width - 1)  # clipped: not usable anyway
        total += pixels[row, column] * usable[:, None]
    if from_opposite:  # the other extreme's value is 1 for black pixels, 0 for white
        few = count < least_neighbours
        total = np.where(few[:, None], total + (opposite * (own == -1))[:, None], total)
        count = np.where(few, count + opposite, count)
    fill = total / np.maximum(count, 1)[:, None]
    brightness = luma(fill[None])[0]
    stands_out = np.abs(brightness - (own == 1)) > threshold
    keep = (count >= least_neighbours) & stands_out
    if not keep.any() or keep.sum() < least_share * height * width:
        return pixels
    if most_noise is not None:
        extreme = np.zeros((height, width), dtype=bool)
        extreme[extremes] = True
        if _luma_noise(pixels, extreme) > most_noise:
            return pixels
    filled = pixels.copy()
    filled[rows[keep], columns[keep]] = fill[keep]
    return filled


def _kind(values: np.ndarray) -> np.ndarray:
    """Per pixel (n x C values): 1 white in every channel, -1 black in every channel, 0 neither."""
    return (values == 1).all(axis=-1).astype(np.int8) - (values == 0).all(axis=-1).astype(np.int8)


def _luma_noise(pixels: np.ndarray, extreme: np.ndarray) -> float:
    """The photo's luma noise (0-255), read where no window holds a black or white pixel."""
    valid = torch.from_numpy(~extreme)[None, None]
    return float(estimate_noise_level(torch.from_numpy(luma(pixels))[None, None], valid, step=2)[0]) * 255


def prefill_batch(noisy: torch.Tensor, settings: dict | None) -> torch.Tensor:
    """``prefill_impulses`` on each image of a batch (N x C x H x W on [0, 1]) as ``denoise`` runs
    it on a photo: so a run that trains through a sidecar's post steps sees the photos its network
    will see. ``noisy`` itself where ``settings`` is None or nothing is filled.

    On a GPU the same rule runs for every pixel at once on the batch's own device
    (``_prefill_dense``): crop by crop through NumPy it cost a GPU run a copy to the CPU and back
    and about 50 ms of a CPU core per batch of 64 crops of 128 px, more on a busy CPU
    (docs/RESULTS.md, "A third GPU session"). On a CPU the photo's version, which looks only at
    the black and white pixels, stays: as fast on an idle CPU (59 ms against 54 on one thread),
    far faster on a busy one (74 against 565). Both give the same pixels (tests/test_impulses.py)."""
    if not settings:
        return noisy
    if noisy.device.type != "cpu":
        return _prefill_dense(noisy, **settings)
    images = list(noisy.permute(0, 2, 3, 1).numpy())
    filled = [prefill_impulses(image, **settings) for image in images]
    if all(after is before for after, before in zip(filled, images, strict=True)):
        return noisy
    return torch.from_numpy(np.stack(filled)).permute(0, 3, 1, 2).to(noisy.dtype)


def _prefill_dense(
    images: torch.Tensor,
    threshold: float,
    most_same: int = 2,
    least_neighbours: int = 3,
    least_share: float = 0.0,
    most_noise: float | None = None,
    from_opposite: bool = False,
) -> torch.Tensor:
    """``prefill_impulses`` for a batch on its own device, every pixel at once: each pixel's kind
    and its 8 neighbours' by shifted views, the fill and both guards per image, and the
    neighbours summed in the photo's order so the fills match it bit for bit."""
    count, _, height, width = images.shape
    kind = (images == 1).all(dim=1).to(torch.int8) - (images == 0).all(dim=1).to(torch.int8)  # N x H x W
    extreme = kind != 0
    if not bool(extreme.any()):
        return images
    padded_kind = F.pad(kind, (1, 1, 1, 1), value=_OUTSIDE)
    padded = F.pad(images, (1, 1, 1, 1))  # past the edge: never usable, so any value

    def shifted(tensor: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
        return tensor[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    neighbours = torch.stack([shifted(padded_kind, dy, dx) for dy, dx in _NEIGHBOURS], dim=-1)  # N x H x W x 8
    alike = neighbours == kind.unsqueeze(-1)
    in_a_line = line_through(alike[..., _RING_ORDER].reshape(-1, 8)).view(count, height, width)
    isolated = extreme & (alike.sum(dim=-1) <= most_same) & ~in_a_line
    usable = neighbours == 0
    neighbour_count = usable.sum(dim=-1)
    total = torch.zeros_like(images)
    for index, (dy, dx) in enumerate(_NEIGHBOURS):
        total += shifted(padded, dy, dx) * usable[..., index].unsqueeze(1)
    if from_opposite:
        opposite = (neighbours == -kind.unsqueeze(-1)).sum(dim=-1)
        few = neighbour_count < least_neighbours
        total = torch.where(few.unsqueeze(1), total + (opposite * (kind == -1)).unsqueeze(1), total)
        neighbour_count = torch.where(few, neighbour_count + opposite, neighbour_count)
    fill = total / neighbour_count.clamp_min(1).unsqueeze(1)
    stands_out = (batch_luma(fill)[:, 0] - (kind == 1).to(fill.dtype)).abs() > threshold
    keep = isolated & (neighbour_count >= least_neighbours) & stands_out
    kept = keep.flatten(1).sum(dim=1)
    filling = (kept > 0) & (kept >= least_share * height * width)
    if most_noise is not None and bool(filling.any()):
        noise = estimate_noise_level(batch_luma(images), ~extreme.unsqueeze(1), step=2).double() * 255
        filling &= ~(noise > most_noise)
    return torch.where((keep & filling.view(-1, 1, 1)).unsqueeze(1), fill, images)
