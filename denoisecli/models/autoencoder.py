"""The convolutional autoencoder and its three variants, which differ only in config.

Shape: N x 1 x H x W lightness scaled to [-1, 1] in (N x 3 with A/B after it, if
``chroma_input``), N x 1 x H x W out; any H and W (reflect-padded
to a multiple of ``ModelConfig.multiple`` and cropped back).

Layout, for ``levels`` = L: pixel-unshuffle (H/2, 4 channels) -> stem conv -> L encoder blocks
(each halves the resolution) -> L decoder blocks (each doubles it) -> conv -> pixel-shuffle.
With ``skips``, the input of every decoder block after the first, and of the final conv, is the
previous output stacked with the encoder output of the same resolution (U-Net). Unshuffling first
puts the whole network at half resolution, which quarters its cost per megapixel on CPU.

``skip_order`` says where a decoder block stacks the skip: "before" its upsampling (the first
layout: each block's convolutions see the encoder features of the coarser resolution, and the
finest ones reach only the final, linear convolution), or "after" it, as in Ronneberger et al.'s
U-Net: upsample, stack the encoder output of the new resolution, then convolve, so the finest
features get the block's nonlinear layers too; the final conv then sees the last block alone.
"after" won at equal steps and is the `skip` variant's layout (docs/RESULTS.md, "The decoder
layout"); a sidecar without the key predates it and means "before".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from denoisecli.color import pad_edges
from denoisecli.models.blocks import CoarseDecoderBlock, DecoderBlock, EncoderBlock, conv_norm_relu
from denoisecli.noise import estimate_noise_level, saturated

HEADS = ("tanh", "residual")
SKIP_ORDERS = ("before", "after")


@dataclass(frozen=True)
class ModelConfig:
    levels: int = 3  # encoder blocks (= decoder blocks)
    width: int = 16  # channels at the stem; level i has width * growth**i
    growth: float = 2.0
    scale: int = 2  # conv/BN/ReLU layers per block
    skips: bool = True
    head: str = "tanh"  # picked by validation over "residual" (docs/RESULTS.md, "Output head")
    unshuffle: int = 2
    # The tanh head: a * (tanh(x) + b) on the [0, 1] target range, b < 1 and a > 1 / (b + 1), so
    # it can reach both ends with a little room that the out-of-range penalty then discourages.
    tanh_scale: float = 0.6
    tanh_offset: float = 0.8
    # Append the input's estimated noise level as a constant channel (FFDNet's noise map, but
    # estimated from the image, so the model stays blind): texture and noise look alike locally.
    # Saturated pixels (salt-and-pepper, knockout) are left out of the estimate.
    noise_map: bool = False
    skip_order: str = "before"  # "before" or "after" the decoder's upsampling; see the module doc
    # (the default is the layout of sidecars written before the key existed; `skip` sets "after")
    # Feed the noisy A and B beside L (the output is still L). Noise added in RGB is independent per
    # channel, and where colour is locally smooth R, G and B are three looks at the same detail;
    # L alone weights them as luminance does, a noisier mix than the network can learn.
    chroma_input: bool = False

    @property
    def input_channels(self) -> int:
        return 3 if self.chroma_input else 1

    def channels(self) -> list[int]:
        return [round(self.width * self.growth**level) for level in range(self.levels + 1)]

    def decoder_inputs(self) -> list[list[int]]:
        """Per decoder block, coarsest first, the channels of the tensors stacked into its input,
        in their order: the features it upsamples, then the skip, if it takes one."""
        channels = self.channels()
        inputs = []
        for index, level in enumerate(reversed(range(self.levels))):
            parts = [channels[level + 1]]
            if self.skips and self.skip_order == "after":
                parts.append(channels[level])  # the encoder output at the resolution it upsamples to
            elif self.skips and index > 0:
                parts.append(channels[level + 1])  # the encoder output at this resolution
            inputs.append(parts)
        return inputs

    def final_inputs(self) -> list[int]:
        """The channels stacked into the final convolution's input: the last decoder's, then in the
        "before" order with skips the stem's."""
        channels = self.channels()
        return [channels[0], channels[0]] if self.skips and self.skip_order != "after" else [channels[0]]

    @property
    def multiple(self) -> int:
        return self.unshuffle * 2**self.levels

    def to_dict(self) -> dict:
        return asdict(self)


VARIANTS: dict[str, ModelConfig] = {
    "skip": ModelConfig(levels=3, skips=True, skip_order="after"),
    "noskip": ModelConfig(levels=3, skips=False),
    "shallow": ModelConfig(levels=1, skips=False),
}
DEFAULT_VARIANT = "skip"


class Autoencoder(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.head not in HEADS:
            raise ValueError(f"unknown head {config.head!r}; choose from {HEADS}")
        if config.skip_order not in SKIP_ORDERS:
            raise ValueError(f"unknown skip order {config.skip_order!r}; choose from {SKIP_ORDERS}")
        if not (config.tanh_offset < 1 and config.tanh_scale > 1 / (config.tanh_offset + 1)):
            raise ValueError("the tanh head needs b < 1 and a > 1 / (b + 1)")
        self.config = config
        channels = config.channels()
        packed = config.unshuffle**2
        self.stem = conv_norm_relu(packed * config.input_channels + int(config.noise_map), channels[0])
        self.encoders = nn.ModuleList(
            EncoderBlock(channels[i], config.scale, channels[i + 1]) for i in range(config.levels)
        )
        self.skip_after = config.skips and config.skip_order == "after"
        levels = reversed(range(config.levels))
        self.decoders = nn.ModuleList(
            DecoderBlock(sum(parts), config.scale, channels[level])
            for parts, level in zip(config.decoder_inputs(), levels, strict=True)
        )
        self.final = nn.Conv2d(sum(config.final_inputs()), packed, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = self.config.input_channels
        if x.ndim != 4 or x.shape[1] != expected:
            raise ValueError(f"Autoencoder expects N x {expected} x H x W, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        multiple = self.config.multiple
        pad_bottom, pad_right = -height % multiple, -width % multiple
        padded = x
        if pad_bottom or pad_right:
            padded = pad_edges(x, (0, pad_right, 0, pad_bottom))
        packed = F.pixel_unshuffle(padded, self.config.unshuffle)
        if self.config.noise_map:
            lightness = x[:, :1]
            level = NOISE_MAP_GAIN * estimate_noise_level(lightness, ~saturated(lightness))
            packed = torch.cat([packed, level.view(-1, 1, 1, 1).expand(-1, 1, *packed.shape[-2:])], dim=1)
        features = self._stem(packed)
        skips = [features]
        for encoder in self.encoders:
            features = encoder(features)
            skips.append(features)
        skips.pop()  # the deepest output feeds the first decoder directly
        if self.skip_after:
            for decoder in self.decoders:
                features = decoder(features, skips.pop())
        else:
            for index, decoder in enumerate(self.decoders):
                if self.config.skips and index > 0:
                    features = torch.cat([features, skips.pop()], dim=1)
                features = decoder(features)
            if self.config.skips:
                features = torch.cat([features, skips.pop()], dim=1)
        raw = F.pixel_shuffle(self.final(features), self.config.unshuffle)
        raw = raw[..., :height, :width]
        return self._head(raw, x)

    def _stem(self, packed: torch.Tensor) -> torch.Tensor:
        """The stem in float32 even under autocast, its output in the autocast dtype.

        bfloat16 keeps 8 bits of mantissa: on the input pixels themselves that cost clean photos
        0.2 dB (CBSD68, skip); the features after the stem take it without a measurable loss.
        """
        device_type = packed.device.type
        try:
            autocast = torch.is_autocast_enabled(device_type)
        except RuntimeError:  # a device type autocast does not know (meta): no autocast there
            autocast = False
        if not autocast:
            return self.stem(packed)
        with torch.autocast(device_type, enabled=False):
            features = self.stem(packed.float())
        return features.to(torch.get_autocast_dtype(device_type))

    def _head(self, raw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.config.head == "residual":
            return x[:, :1] - raw  # the network predicts the noise in L (DnCNN)
        unit = self.config.tanh_scale * (torch.tanh(raw) + self.config.tanh_offset)
        return unit * 2 - 1


NOISE_MAP_GAIN = 5.0  # sigma 25 (0-255, in RGB) is about 0.13 in L on [-1, 1]: bring it near 1


def build_model(variant: str = DEFAULT_VARIANT, **overrides) -> Autoencoder:
    """The named variant, with any ``ModelConfig`` field overridden (tests use ``width=8``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return Autoencoder(replace(VARIANTS[variant], **overrides))


@torch.no_grad()
def with_chroma_input(model: Autoencoder) -> Autoencoder:
    """An L-only model grown to take A/B too, computing exactly the same function to start with.

    The stem's weights for the new A/B inputs are zero, so fine-tuning starts from the trained
    L-only network and learns only what the colour channels add (``train --init``).
    """
    if model.config.chroma_input:
        return model
    grown = Autoencoder(replace(model.config, chroma_input=True))
    state = model.state_dict()
    old = state["stem.0.weight"]
    packed = model.config.unshuffle**2
    widened = old.new_zeros(grown.stem[0].weight.shape)
    widened[:, :packed] = old[:, :packed]  # unshuffled L comes first, then A, then B
    widened[:, 3 * packed :] = old[:, packed:]  # the noise map channel, if any, stays last
    state["stem.0.weight"] = widened
    grown.load_state_dict(state)
    return grown.train(model.training)


@torch.no_grad()
def widened(model: Autoencoder, config: ModelConfig, seed: int = 0) -> Autoencoder:
    """``model`` grown to ``config``'s wider channels, computing exactly the same function.

    Every old weight keeps its place; each new channel gets a fresh layer's random weights in
    from the old channels and zero weights out of it (into the next layer, the shortcut, the skip
    it feeds, other new channels), so until training moves those zeros the new channels are
    computed and ignored. Batch norm's statistics are per channel, so the old channels' are
    unchanged in training mode too. Zero out, not in: with both zero no gradient would ever
    reach them. For a run that adds capacity to a trained network instead of starting over
    (docs/RESULTS.md, "Capacity without starting over").
    """
    old_config = model.config
    if replace(config, width=old_config.width, growth=old_config.growth) != old_config:
        raise ValueError("only the channel widths (width, growth) can grow")
    old_channels, new_channels = old_config.channels(), config.channels()
    if any(new < old for old, new in zip(old_channels, new_channels, strict=True)):
        raise ValueError(f"channels {new_channels} are narrower than {old_channels} somewhere")
    with torch.random.fork_rng(devices=[]):  # the caller's random stream is left as it was
        torch.manual_seed(seed)
        grown = Autoencoder(config)
    inputs = _input_segments(old_config), _input_segments(config)
    old_state = model.state_dict()
    state = grown.state_dict()
    for key, new in state.items():
        old = old_state[key]
        if old.shape == new.shape:
            state[key] = old.clone()
            continue
        rows = slice(0, old.shape[0])
        if new.ndim == 1:  # a bias or a norm's statistics: per output channel
            new[rows] = old
            continue
        old_segments, new_segments = inputs[0].get(key, [old.shape[1]]), inputs[1].get(key, [new.shape[1]])
        # New output channels keep the fresh layer's random weights in.
        start_old = start_new = 0
        for old_size, new_size in zip(old_segments, new_segments, strict=True):
            new[:, start_new + old_size : start_new + new_size] = 0  # out of every new channel: zero
            new[rows, start_new : start_new + old_size] = old[:, start_old : start_old + old_size]
            start_old, start_new = start_old + old_size, start_new + new_size
    grown.load_state_dict(state)
    return grown.train(model.training)


def _input_segments(config: ModelConfig) -> dict[str, list[int]]:
    """The input channels of each convolution whose input is stacked tensors, as the sizes of its
    parts in order (``ModelConfig.decoder_inputs``, ``final_inputs``); every other takes one."""
    segments = {"final.weight": config.final_inputs()}
    for index, parts in enumerate(config.decoder_inputs()):
        for key in (f"decoders.{index}.body.layers.0.0.weight", f"decoders.{index}.body.shortcut.weight"):
            segments[key] = parts
    return segments


@torch.no_grad()
def coarse_decoders(model: Autoencoder) -> Autoencoder:
    """Every decoder block of ``model`` replaced, in place, by its ``CoarseDecoderBlock``: the same
    function, faster, for inference (after ``fold_batch_norm``, or with eval-mode norms).
    Blocks already replaced stay as they are."""
    for index, parts in enumerate(model.config.decoder_inputs()):
        block = model.decoders[index]
        if isinstance(block, DecoderBlock):
            # "after": the skip joins after upsampling, last; "before": all of the input is upsampled
            upsampled = parts[0] if model.skip_after else sum(parts)
            model.decoders[index] = CoarseDecoderBlock(block, upsampled).to(block.body.shortcut.weight)
    return model


@torch.no_grad()
def narrowed(model: Autoencoder, config: ModelConfig, activity: dict[str, torch.Tensor] | None = None) -> Autoencoder:
    """``model`` cut to ``config``'s narrower channels, keeping in each layer's output the
    channels that matter most: a cheaper network that starts from a trained one's knowledge
    (``widened``'s converse; it does not compute the same function, so it needs training on).

    A channel's importance is how strongly the layers after it read it (the norm of their weights
    on it, summed over every reader) times, where ``activity`` gives it, how strongly it fires
    (its mean absolute value on some photos: ``channel_activity``). Channels that are summed
    together (a block's body and its shortcut) or stacked into a decoder's input are kept or
    cut together. Only the U-Net order ("after") and networks without skips.
    """
    old_config = model.config
    if replace(config, width=old_config.width, growth=old_config.growth) != old_config:
        raise ValueError("only the channel widths (width, growth) can shrink")
    if old_config.skips and old_config.skip_order != "after":
        raise ValueError("narrowing needs the U-Net order (skip_order 'after') or no skips")
    old_channels, new_channels = old_config.channels(), config.channels()
    if any(new > old for old, new in zip(old_channels, new_channels, strict=True)):
        raise ValueError(f"channels {new_channels} are wider than {old_channels} somewhere")
    layers, levels = _channel_groups(old_config), _group_levels(old_config)
    state = model.state_dict()

    def parts(key: str):
        """A convolution's input channels, group by group: (group, the slice of its weight)."""
        start = 0
        for group in layers[key][1]:
            count = old_channels[levels[group]] if group in levels else state[key].shape[1]  # the image
            yield group, slice(start, start + count)
            start += count

    readers: dict[str, torch.Tensor] = {}
    for key in layers:
        for group, columns in parts(key):
            if group in levels:
                readers[group] = readers.get(group, 0) + state[key][:, columns].flatten(2).norm(dim=2).norm(dim=0)
    kept = {}
    for group, norms in readers.items():
        score = norms * (activity[group] if activity and group in activity else 1)
        kept[group] = score.argsort(descending=True)[: new_channels[levels[group]]].sort().values
    narrow = Autoencoder(config)
    new_state = narrow.state_dict()
    for key in new_state:
        tensor = state[key]
        conv_key = _producing_conv(key.rsplit(".", 1)[0], layers)
        if conv_key is not None and layers[conv_key][0] in kept and tensor.ndim >= 1:
            tensor = tensor.index_select(0, kept[layers[conv_key][0]])  # its output channels
        if key in layers:  # its input channels, part by part
            pieces = [
                tensor[:, columns].index_select(1, kept[group]) if group in kept else tensor[:, columns]
                for group, columns in parts(key)
            ]
            tensor = torch.cat(pieces, dim=1)
        new_state[key] = tensor.clone()
    narrow.load_state_dict(new_state)
    return narrow.train(model.training)


def channel_activity(model: Autoencoder, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each channel group's mean absolute output on ``images`` (``narrowed``'s ``activity``)."""
    config = model.config
    modules = {"stem": model.stem}
    for index, encoder in enumerate(model.encoders):
        modules |= {f"e{index}.{k}": encoder.layers[k] for k in range(config.scale - 1)}
        modules[f"e{index}.out"] = encoder
    for index, decoder in enumerate(model.decoders):
        modules |= {f"d{index}.{k}": decoder.body.layers[k] for k in range(config.scale - 1)}
        modules[f"d{index}.out"] = decoder
    activity: dict[str, torch.Tensor] = {}

    def record(group: str):
        def hook(_module, _inputs, output):
            activity[group] = activity.get(group, 0) + output.detach().abs().mean(dim=(0, 2, 3))

        return hook

    handles = [module.register_forward_hook(record(group)) for group, module in modules.items()]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()(images)  # batch norm's running statistics, as a trained network runs
    finally:
        for handle in handles:
            handle.remove()
        model.train(training)
    return activity


def _group_levels(config: ModelConfig) -> dict[str, int]:
    """Each channel group (a set of channels cut or kept together) and the level whose channel
    count it has: the stem's, each encoder's and decoder's inner layers' and output's."""
    levels = {"stem": 0}
    for index in range(config.levels):
        levels |= {f"e{index}.{k}": index + 1 for k in range(config.scale - 1)} | {f"e{index}.out": index + 1}
        level = config.levels - 1 - index
        levels |= {f"d{index}.{k}": level for k in range(config.scale - 1)} | {f"d{index}.out": level}
    return levels


def _channel_groups(config: ModelConfig) -> dict[str, tuple[str, list[str]]]:
    """Every convolution's weight key -> (the group of its output channels, the groups stacked
    into its input in order; "input" for the image and "packed" for the output pixels)."""
    layers = {"stem.0.weight": ("stem", ["input"])}
    previous = "stem"
    for index in range(config.levels):
        inner = [f"e{index}.{k}" for k in range(config.scale - 1)] + [f"e{index}.out"]
        for k, group in enumerate(inner):
            layers[f"encoders.{index}.layers.{k}.0.weight"] = (group, [previous if k == 0 else inner[k - 1]])
        layers[f"encoders.{index}.shortcut.weight"] = (f"e{index}.out", [previous])
        previous = f"e{index}.out"
    for index in range(config.levels):
        level = config.levels - 1 - index
        parts = [previous]
        if config.skips:  # the U-Net order: the encoder output of the level it upsamples to
            parts.append("stem" if level == 0 else f"e{level - 1}.out")
        inner = [f"d{index}.{k}" for k in range(config.scale - 1)] + [f"d{index}.out"]
        for k, group in enumerate(inner):
            layers[f"decoders.{index}.body.layers.{k}.0.weight"] = (group, parts if k == 0 else [inner[k - 1]])
        layers[f"decoders.{index}.body.shortcut.weight"] = (f"d{index}.out", parts)
        previous = f"d{index}.out"
    layers["final.weight"] = ("packed", [previous])
    return layers


def _producing_conv(layer: str, layers: dict[str, tuple[str, list[str]]]) -> str | None:
    """The convolution whose output channels a parameter of ``layer`` is indexed by: the layer's
    own weight, or for a batch norm (``...layers.K.1``) the convolution before it."""
    if f"{layer}.weight" in layers:
        return f"{layer}.weight"
    if layer.endswith(".1"):
        conv = f"{layer[:-2]}.0.weight"
        return conv if conv in layers else None
    return None
