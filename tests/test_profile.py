"""Static profiles: parameter, MAC and FLOP counts against published figures, per-layer rows,
per-image normalisation, and a model left exactly as it was."""

from __future__ import annotations

import logging

import pytest
import torch
from profile_fixtures import imagenet_profile
from torch import nn

from bench.measure.static_profile import count_macs, counting_model, profile_model
from bench.models.registry import create_model, get_model_info
from bench.report.profiles import profile_notes, profile_table

# Reference MACs at 3x224x224 (fvcore convention, as published by torchvision and others).
REFERENCE_GMACS = {
    "alexnet": 0.714,
    "vgg16": 15.47,
    "vgg19": 19.63,
    "googlenet": 1.505,
    "resnet18": 1.819,
    "resnet50": 4.112,
    "resnet152": 11.56,
}
# Exact counts measured here: params, MACs, FLOPs, training-step FLOPs (per image).
EXACT = {
    "alexnet": (61_100_840, 714_197_696, 1_428_376_960, 4_144_577_280),
    "vgg16": (138_357_544, 15_470_289_408, 30_940_528_640, 92_648_177_664),
    "vgg19": (143_667_240, 19_632_087_552, 39_264_124_928, 117_618_966_528),
    "googlenet": (6_624_904, 1_504_878_688, 2_996_752_384, 8_754_229_248),
    "resnet18": (11_689_512, 1_819_065_856, 3_628_146_688, 10_648_412_160),
    "resnet50": (25_557_032, 4_111_512_576, 8_178_368_512, 24_299_077_632),
    "resnet152": (60_192_808, 11_558_835_200, 23_027_253_248, 68_845_731_840),
}
LENET5_ROWS = [
    ("c1", "Conv2d", (6, 28, 28), 156, 117_600),
    ("tanh1", "Tanh", (6, 28, 28), 0, 0),
    ("s2", "AvgPool2d", (6, 14, 14), 0, 0),
    ("c3", "Conv2d", (16, 10, 10), 2_416, 240_000),
    ("tanh3", "Tanh", (16, 10, 10), 0, 0),
    ("s4", "AvgPool2d", (16, 5, 5), 0, 0),
    ("c5", "Conv2d", (120, 1, 1), 48_120, 48_000),
    ("tanh5", "Tanh", (120, 1, 1), 0, 0),
    ("flatten", "Flatten", (120,), 0, 0),
    ("f6", "Linear", (84,), 10_164, 10_080),
    ("tanh6", "Tanh", (84,), 0, 0),
    ("output", "Linear", (10,), 850, 840),
]


@pytest.mark.parametrize("name", list(REFERENCE_GMACS))
def test_imagenet_counts_match_published_macs(name: str) -> None:
    profile = imagenet_profile(name)
    reference = REFERENCE_GMACS[name] * 1e9
    assert abs(profile.macs / reference - 1) < 0.005
    assert (profile.params, profile.macs, profile.flops, profile.train_step_flops) == EXACT[name]
    assert profile.trainable_params == profile.params
    assert profile.input_size == (3, 224, 224)


@pytest.mark.parametrize("name", list(REFERENCE_GMACS))
def test_flops_are_twice_the_convolution_and_linear_macs(name: str) -> None:
    profile = imagenet_profile(name)
    ops = profile.macs_by_operator
    # torch's counter counts convolutions and matrix products only, two per multiply-add;
    # fvcore adds batch norm and adaptive average pooling, which pulls ResNet-50's FLOPs 0.55%
    # below twice its published MACs (AlexNet and VGG: within 0.01%).
    assert profile.flops == 2 * (ops["conv"] + ops["linear"])
    assert abs(profile.flops / (2e9 * REFERENCE_GMACS[name]) - 1) < 0.006
    assert 1.8 <= profile.flops_macs_ratio <= 2.2
    assert not profile.ratio_is_unusual


@pytest.mark.parametrize("name", list(REFERENCE_GMACS))
def test_train_step_flops_are_about_three_forward_passes(name: str) -> None:
    profile = imagenet_profile(name)
    assert 2.5 <= profile.train_step_flops / profile.flops <= 3.5


def test_train_step_counts_forward_and_both_gradients_except_the_images() -> None:
    # Backward: weight gradients of every layer plus input gradients of every layer but the
    # first (the images need none), each as costly as the forward pass of its layer.
    model = create_model("lenet5")
    profile = profile_model(model, (1, 32, 32), layers=True)
    first_layer_flops = 2 * profile.layers[0].macs
    assert profile.train_step_flops == 3 * profile.flops - first_layer_flops == 2_263_920
    alexnet = imagenet_profile("alexnet")
    alexnet_conv1_flops = 2 * 64 * (3 * 11 * 11) * 55 * 55
    assert alexnet.train_step_flops == 3 * alexnet.flops - alexnet_conv1_flops


def test_lenet5_layer_table_rows() -> None:
    profile = profile_model(create_model("lenet5"), (1, 32, 32), layers=True)
    rows = [(r.name, r.type, r.output_shape, r.params, r.macs) for r in profile.layers]
    assert rows == LENET5_ROWS
    assert sum(r.params for r in profile.layers) == profile.params == 61_706
    assert sum(r.macs for r in profile.layers) == profile.macs == 416_520
    assert profile.fvcore_unsupported_ops == {"aten::avg_pool2d": 2, "aten::tanh": 4}


def test_layers_are_left_out_unless_asked_for() -> None:
    profile = profile_model(create_model("lenet5"), (1, 32, 32))
    assert profile.layers is None
    assert "layers" not in profile.to_dict()


def test_counts_are_per_image_whatever_the_batch() -> None:
    model = create_model("lenet5-relu")
    one = profile_model(model, (1, 32, 32))
    four = profile_model(model, (1, 32, 32), batch_size=4)
    assert (four.macs, four.flops, four.train_step_flops) == (416_520, 833_040, 2_263_920)
    assert (one.macs, one.flops, one.train_step_flops) == (
        four.macs,
        four.flops,
        four.train_step_flops,
    )
    assert four.batch_size == 4


@pytest.mark.parametrize("name", ["lenet5", "alexnet-cifar", "conv-autoencoder"])
def test_zero_weight_counting_model_counts_like_an_initialised_one(name: str) -> None:
    size = get_model_info(name).input_size
    built, zeros = create_model(name), counting_model(name)
    assert profile_model(built, size) == profile_model(zeros, size)
    assert count_macs(zeros, size) == profile_model(built, size).macs


def test_profiling_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(8 * 6 * 6, 4),
    )
    model.train()
    model[1].eval()  # mixed modes must come back as they were
    grad = torch.ones_like(model[0].weight)
    model[0].weight.grad = grad
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()

    profile_model(model, (3, 8, 8), batch_size=2, layers=True)

    assert [m.training for m in model] == [True, False, True, True, True, True]
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert model[0].weight.grad is grad and torch.equal(grad, torch.ones_like(grad))
    assert all(p.grad is None for p in list(model.parameters())[1:])
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.is_grad_enabled()


def test_fvcore_skips_are_recorded_not_printed(caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG)
    profile = profile_model(create_model("lenet5-relu"), (1, 32, 32))
    assert profile.fvcore_unsupported_ops == {"aten::max_pool2d": 2}
    assert not caplog.records
    assert capfd.readouterr() == ("", "")


def test_a_ratio_far_from_two_is_flagged() -> None:
    # fvcore counts batch norm (2 per element) that torch's counter ignores: 24 MACs + 16
    # batch-norm "MACs" per pixel against 48 FLOPs gives a ratio of 1.2.
    model = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), nn.BatchNorm2d(8))
    profile = profile_model(model, (3, 4, 4))
    assert (profile.macs, profile.flops) == (40 * 16, 48 * 16)
    assert profile.ratio_is_unusual
    info = get_model_info("lenet5")
    notes = profile_notes([(info, profile)])
    assert notes[-1] == (
        "FLOPs/MACs outside 1.8–2.2, the two counters count different operators: lenet5 (1.20)."
    )
    table = profile_table([(info, profile)])
    assert table.data["flops_per_mac"].tolist() == [1.2]
    assert table.display["FLOPs/MACs"].tolist() == ["1.200"]
