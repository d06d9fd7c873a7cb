import pytest
import torch

from denoisecli.models import VARIANTS, build_model, coarse_decoders, fold_batch_norm
from denoisecli.models.blocks import CoarseDecoderBlock


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("head", ["residual", "tanh"])
def test_forward_backward_every_parameter_gets_a_gradient(variant, head):
    model = build_model(variant, width=8, head=head)
    x = torch.rand(2, 1, 37, 51) * 2 - 1  # odd sizes: padded and cropped back
    output = model(x)
    assert output.shape == x.shape
    output.square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_tanh_head_range():
    model = build_model("shallow", width=8, head="tanh")
    output = model(torch.rand(1, 1, 16, 16) * 100)
    low, high = 0.6 * (-1 + 0.8), 0.6 * (1 + 0.8)
    assert output.min() >= low * 2 - 1 - 1e-5 and output.max() <= high * 2 - 1 + 1e-5


def test_variants_differ_only_in_config():
    configs = {name: VARIANTS[name] for name in VARIANTS}
    assert configs["skip"].skips and not configs["noskip"].skips
    assert configs["shallow"].levels == 1 and configs["skip"].levels == configs["noskip"].levels
    shallow = build_model("shallow", width=8)
    assert len(shallow.encoders) == 1 and len(shallow.decoders) == 1


def test_folding_batch_norm_keeps_outputs():
    model = build_model("skip", width=8)
    model.train()
    model(torch.rand(4, 1, 32, 32))  # give the running statistics some values
    model.eval()
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batch_norm(model)(x)
    assert torch.allclose(expected, folded, atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize(
    ("variant", "overrides"),
    [("skip", {}), ("skip", {"skip_order": "before"}), ("noskip", {}), ("shallow", {"chroma_input": True})],
)
@pytest.mark.parametrize("fold", [False, True])
def test_coarse_decoders_compute_the_same_function(variant, overrides, fold):
    model = build_model(variant, width=8, **overrides)
    model.train()
    model(torch.rand(4, model.config.input_channels, 32, 32))  # running statistics off their defaults
    model.eval()
    x = torch.rand(2, model.config.input_channels, 37, 51) * 2 - 1
    with torch.no_grad():
        expected = model(x)
        coarse = coarse_decoders(fold_batch_norm(model) if fold else model)
        assert all(isinstance(block, CoarseDecoderBlock) for block in coarse.decoders)
        assert coarse_decoders(coarse) is coarse  # replaced blocks stay as they are
        channels_last = coarse.to(memory_format=torch.channels_last)
        outputs = coarse(x), channels_last(x.contiguous(memory_format=torch.channels_last))
    for output in outputs:
        torch.testing.assert_close(output, expected, atol=2e-6, rtol=0)


def test_batch_norm_uses_batch_statistics_in_train_mode_only():
    model = build_model("shallow", width=8)
    x = torch.rand(2, 1, 16, 16)
    model.train()
    train_out = model(x)
    model.eval()
    assert not torch.allclose(train_out, model(x))


def test_bad_input_and_unknown_variant():
    with pytest.raises(ValueError, match="N x 1 x H x W"):
        build_model("skip", width=8)(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="unknown variant"):
        build_model("deep")


def test_noise_level_estimate_is_right_on_smooth_images_and_rises_with_noise():
    from conftest import smooth_rgb

    from denoisecli.noise import estimate_noise_level

    lightness = torch.from_numpy(smooth_rgb(120, 160, seed=2))[..., 0][None, None] * 2 - 1
    generator = torch.Generator().manual_seed(0)
    estimates = []
    for sigma in (0.0, 0.02, 0.05, 0.1):
        noisy = lightness + sigma * torch.randn(lightness.shape, generator=generator)
        estimates.append(estimate_noise_level(noisy).item())
        assert estimates[-1] == pytest.approx(sigma, rel=0.08, abs=1e-3)
    assert estimates == sorted(estimates)


def test_noise_map_model_trains_and_round_trips(tmp_path):
    from denoisecli.checkpoint import export_model, load_model

    model = build_model("skip", width=4, noise_map=True)
    x = torch.rand(2, 1, 40, 36) * 2 - 1
    model(x).sum().backward()
    assert all(parameter.grad is not None for parameter in model.parameters())
    path = export_model(model.eval(), tmp_path / "map.safetensors", "skip")
    loaded, sidecar = load_model(path)
    assert sidecar["config"]["noise_map"] is True
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_a_sidecar_from_before_a_config_field_loads_with_its_default(tmp_path):
    import json

    from denoisecli.checkpoint import export_model, load_model, sidecar_path

    path = export_model(build_model("shallow", width=4).eval(), tmp_path / "old.safetensors", "shallow")
    sidecar = json.loads(sidecar_path(path).read_text())
    del sidecar["config"]["noise_map"]  # as written before the noise map existed
    sidecar_path(path).write_text(json.dumps(sidecar))
    model, _ = load_model(path)
    assert model.config.noise_map is False


def test_a_sidecar_with_a_broken_strength_schedule_is_refused_in_one_line(tmp_path):
    import json

    from denoisecli.checkpoint import export_model, load_model, sidecar_path
    from denoisecli.errors import DenoiseError

    path = export_model(build_model("shallow", width=4).eval(), tmp_path / "m.safetensors", "shallow")
    sidecar = json.loads(sidecar_path(path).read_text())
    sidecar["color"]["restore"]["strength_by_noise"] = [[8.0, 4.0], [1.0, 0.5]]  # falling noise levels
    sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.raises(DenoiseError, match=r"m\.json: strength_by_noise needs rising"):
        load_model(path)


def test_unet_skip_order_puts_the_finest_skip_into_a_decoder_block(tmp_path):
    from denoisecli.checkpoint import export_model, load_model

    model = build_model("skip", width=4, skip_order="after")
    # Every decoder block stacks the encoder output of the resolution it upsamples to, so the last
    # one convolves the stem's features and the final conv sees that block alone.
    assert model.final.in_channels == 4
    assert model.decoders[-1].body.shortcut.in_channels == 8 + 4
    x = torch.rand(2, 1, 37, 51) * 2 - 1
    output = model(x)
    assert output.shape == x.shape
    output.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    path = export_model(model.eval(), tmp_path / "unet.safetensors", "skip")
    loaded, sidecar = load_model(path)
    assert sidecar["config"]["skip_order"] == "after"
    assert torch.allclose(loaded(x), model(x), atol=1e-6)
    with pytest.raises(ValueError, match="unknown skip order"):
        build_model("skip", skip_order="middle")


def test_skip_variant_is_the_unet_order_and_old_sidecars_load_the_first_layout(tmp_path):
    import json

    from denoisecli.checkpoint import export_model, load_model, sidecar_path

    assert build_model("skip").config.skip_order == "after"
    # A sidecar written before skip_order existed describes the first layout ("before").
    first = build_model("skip", width=4, skip_order="before").eval()
    path = export_model(first, tmp_path / "old.safetensors", "skip")
    sidecar = json.loads(sidecar_path(path).read_text())
    del sidecar["config"]["skip_order"]
    sidecar_path(path).write_text(json.dumps(sidecar))
    loaded, _ = load_model(path)
    assert loaded.config.skip_order == "before"
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    assert torch.allclose(loaded(x), first(x), atol=1e-6)


@pytest.mark.parametrize("head", ["residual", "tanh"])
@pytest.mark.parametrize("noise_map", [False, True])
def test_chroma_input_model_takes_lab_returns_l_and_grows_from_an_l_only_one(head, noise_map):
    from denoisecli.models import with_chroma_input

    torch.manual_seed(0)
    l_only = build_model("skip", width=8, head=head, noise_map=noise_map)
    with torch.no_grad():  # trained-looking batch norm, so eval mode is not the identity
        for module in l_only.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    grown = with_chroma_input(l_only.eval())
    assert grown.config.chroma_input and grown.config.input_channels == 3
    lab = torch.rand(2, 3, 37, 51) * 2 - 1
    with torch.no_grad():
        assert grown(lab).shape == (2, 1, 37, 51)
        # Zero weights on A/B: the grown model is the L-only one until it is trained.
        torch.testing.assert_close(grown(lab), l_only(lab[:, :1]))
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        grown(lab[:, :1])
    grown.train()
    grown(lab).square().mean().backward()
    assert grown.stem[0].weight.grad[:, 4:12].abs().sum() > 0  # the A/B weights learn


def test_network_input_with_chroma_stacks_scaled_a_b_and_zeros_for_gray():
    from denoisecli.color import rgb_to_lab
    from denoisecli.pipeline import network_input

    rgb = torch.rand(1, 3, 8, 8)
    lab, lightness = network_input(rgb)
    _, stacked = network_input(rgb, chroma=True)
    assert lightness.shape == (1, 1, 8, 8) and stacked.shape == (1, 3, 8, 8)
    assert torch.equal(stacked[:, :1], lightness)
    torch.testing.assert_close(stacked[:, 1:] * 50, rgb_to_lab(rgb)[:, 1:])
    _, gray = network_input(rgb[:, :1], chroma=True)
    assert gray.shape == (1, 3, 8, 8) and not gray[:, 1:].any()


@pytest.mark.parametrize(("variant", "order"), [("skip", "after"), ("skip", "before"), ("noskip", "before")])
def test_a_widened_model_computes_the_same_function_and_its_new_channels_learn(variant, order):
    from dataclasses import replace

    from denoisecli.models import widened

    torch.manual_seed(0)
    narrow = build_model(variant, width=4, skip_order=order, head="residual", chroma_input=True)
    with torch.no_grad():  # trained-looking batch norm, so eval mode is not the identity
        for module in narrow.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    wide = widened(narrow.eval(), replace(narrow.config, width=6, growth=2.5))
    assert wide.config.channels() == [6, 15, 38, 94]
    lab = torch.rand(2, 3, 40, 24) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(wide(lab), narrow(lab))  # eval mode: the running statistics
        torch.testing.assert_close(wide.train()(lab), narrow.train()(lab))  # training: the batch's
    wide(lab).square().mean().backward()
    # The zero weights out of the new stem channels learn, and so, once they move, do those in.
    assert wide.encoders[0].layers[0][0].weight.grad[:4, 4:].abs().sum() > 0
    assert wide.stem[0].weight.grad[:4].abs().sum() > 0
    with pytest.raises(ValueError, match="narrower"):
        widened(narrow, replace(narrow.config, width=3))
    with pytest.raises(ValueError, match="only the channel widths"):
        widened(narrow, replace(narrow.config, width=6, levels=2))


@pytest.mark.parametrize("variant", ["skip", "noskip", "shallow"])
def test_narrowing_a_widened_model_keeps_the_old_channels_and_its_function(variant):
    from dataclasses import replace

    from denoisecli.models import channel_activity, narrowed, widened

    torch.manual_seed(1)
    order = "after" if variant == "skip" else "before"
    small = build_model(variant, width=4, skip_order=order, head="residual", chroma_input=True).eval()
    with torch.no_grad():  # trained-looking batch norm, so eval mode is not the identity
        for module in small.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    wide = widened(small, replace(small.config, width=6, growth=2.5))
    lab = torch.rand(2, 3, 40, 24) * 2 - 1
    # The widened model's new channels are read with zero weights, so they matter least and go.
    back = narrowed(wide, small.config, channel_activity(wide, lab))
    assert back.config == small.config
    with torch.no_grad():
        torch.testing.assert_close(back(lab), small(lab))
    cut = narrowed(wide, replace(small.config, width=3, growth=1.5))  # a real cut: shapes load strictly
    assert cut.config.channels() == [3, 4, 7, 10][: small.config.levels + 1]
    assert cut(lab).shape == (2, 1, 40, 24)
    with pytest.raises(ValueError, match="wider"):
        narrowed(small, replace(small.config, width=6))
    with pytest.raises(ValueError, match="only the channel widths"):
        narrowed(wide, replace(wide.config, width=4, levels=2))


def test_narrowing_needs_the_u_net_order_where_there_are_skips():
    from dataclasses import replace

    from denoisecli.models import narrowed

    before = build_model("skip", width=4, skip_order="before")
    with pytest.raises(ValueError, match="U-Net order"):
        narrowed(before, replace(before.config, width=3))
