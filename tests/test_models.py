"""The model zoo: parameter counts, output shapes, metadata, input channels and the
autoencoder's encoder transfer."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import get_model_weights

from bench.errors import BenchError
from bench.models.autoencoder import encoder, load_encoder_from_autoencoder
from bench.models.common import first_conv, with_in_channels
from bench.models.registry import create_model, get_model_info, list_models, model_names

TORCHVISION_PARAMS = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "resnet152": 60_192_808,
}
SMALL_PARAMS = {
    "lenet5": 61_706,
    "lenet5-relu": 61_706,
    "alexnet-cifar": 2_472_266,
    "conv-autoencoder": 4_680_643,
    "conv-autoencoder-classifier": 2_331_658,
}
FAMILIES = {
    "AlexNet": (2012, "Deeper"),
    "VGG": (2014, "Fixed-size kernels"),
    "GoogLeNet": (2014, "Wider, parallel kernels"),
    "ResNet": (2015, "Shortcut connections"),
    "LeNet": (1998, "Convolution + pooling"),
    "Autoencoder": (2011, "Unsupervised pretraining"),
}
LECTURE_TOP5 = {
    "alexnet": 84.70,
    "vgg16": 92.30,
    "vgg19": 92.30,
    "googlenet": 93.30,
    "resnet152": 95.51,
}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("name", "params"), TORCHVISION_PARAMS.items())
def test_imagenet_models_have_torchvision_parameter_counts(name: str, params: int) -> None:
    assert get_model_info(name).input_size == (3, 224, 224)
    assert count_params(create_model(name)) == params


def test_vgg16_with_ten_classes_has_the_lecture_parameter_count() -> None:
    assert count_params(create_model("vgg16", num_classes=10)) == 134_301_514


@pytest.mark.parametrize(("name", "params"), SMALL_PARAMS.items())
def test_small_models_have_their_documented_parameter_counts(name: str, params: int) -> None:
    assert count_params(create_model(name)) == params


@pytest.mark.parametrize("name", model_names())
def test_model_maps_a_native_batch_to_its_output_shape_through_first_conv(name: str) -> None:
    info = get_model_info(name)
    model = create_model(name).eval()
    convs_run: list[nn.Module] = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_pre_hook(lambda m, _: convs_run.append(m))
    inputs = torch.randn(2, *info.input_size)
    with torch.no_grad():
        outputs = model(inputs)
    expected = inputs.shape if info.task == "autoencode" else (2, info.num_classes)
    assert outputs.shape == expected
    assert convs_run[0] is first_conv(model)


@pytest.mark.parametrize(
    "name",
    [
        "lenet5",
        "resnet18-cifar",
        "vgg11-cifar",
        "alexnet",
        "googlenet",
        "conv-autoencoder-classifier",
        "conv-autoencoder",
    ],
)
def test_model_reads_one_channel_when_asked(name: str) -> None:
    info = get_model_info(name)
    model = create_model(name, num_classes=7, in_channels=1).eval()
    inputs = torch.randn(2, 1, *info.input_size[1:])
    with torch.no_grad():
        outputs = model(inputs)
    expected = inputs.shape if info.task == "autoencode" else (2, 7)
    assert outputs.shape == expected
    assert first_conv(model).in_channels == 1


def test_replaced_first_conv_keeps_kernel_stride_padding_and_bias() -> None:
    original = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    replaced = with_in_channels(original, 1)
    assert replaced.weight.shape == (8, 1, 7, 7)
    assert (replaced.stride, replaced.padding, replaced.bias) == ((2, 2), (3, 3), None)
    assert with_in_channels(original, 3) is original


def test_first_conv_of_a_model_without_convolution_raises() -> None:
    with pytest.raises(ValueError, match="no Conv2d"):
        first_conv(nn.Linear(4, 2))


def test_list_models_filters_by_wildcard() -> None:
    names = [info.name for info in list_models("resnet*")]
    assert names == [
        "resnet101",
        "resnet152",
        "resnet18",
        "resnet18-cifar",
        "resnet34",
        "resnet34-cifar",
        "resnet50",
        "resnet50-cifar",
    ]


@pytest.mark.parametrize("name", model_names())
def test_model_metadata_is_complete(name: str) -> None:
    info = get_model_info(name)
    assert (info.year, info.salient_feature) == FAMILIES[info.family]
    assert info.paper and info.description
    assert info.task in ("classify", "autoencode")
    imagenet = info.input_size == (3, 224, 224)
    assert info.num_classes == (1000 if imagenet else 10)
    assert (info.published is not None) == imagenet


def test_published_accuracies_match_torchvision_weight_metadata() -> None:
    published = [info for info in list_models() if info.published is not None]
    assert len(published) == 11
    for info in published:
        assert info.published is not None
        meta = get_model_weights(info.name).IMAGENET1K_V1.meta
        metrics = meta["_metrics"]["ImageNet-1K"]
        assert (info.published.top1, info.published.top5) == (metrics["acc@1"], metrics["acc@5"])
        assert info.published.source == "torchvision IMAGENET1K_V1 weights (published)"


def test_paper_top5_is_the_lecture_summary_figure() -> None:
    cited = {info.name: info.paper_top5 for info in list_models() if info.paper_top5 is not None}
    assert cited == LECTURE_TOP5


def test_googlenet_builds_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_model("googlenet")
        create_model("googlenet-cifar")
        create_model("googlenet", aux_logits=True)


def test_googlenet_auxiliary_heads_are_off_unless_asked() -> None:
    plain = create_model("googlenet-cifar").train()
    with_aux = create_model("googlenet-cifar", aux_logits=True).train()
    inputs = torch.randn(2, 3, 32, 32)
    assert plain(inputs).shape == (2, 10)
    assert [out.shape for out in with_aux(inputs)] == [(2, 10)] * 3
    assert count_params(create_model("googlenet", aux_logits=True)) == 13_004_888


def test_unknown_model_argument_is_a_user_error() -> None:
    with pytest.raises(BenchError, match="'lenet5' takes no argument 'width'"):
        create_model("lenet5", width=2)


def test_classifier_loads_a_copy_of_the_pretrained_encoder() -> None:
    torch.manual_seed(0)
    autoencoder = create_model("conv-autoencoder")
    classifier = create_model("conv-autoencoder-classifier")
    head = classifier.state_dict()["classifier.weight"].clone()
    load_encoder_from_autoencoder(classifier, autoencoder)
    inputs = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(encoder(classifier)(inputs), encoder(autoencoder)(inputs))
        first_conv(autoencoder).weight.zero_()
    assert first_conv(classifier).weight.abs().sum() > 0
    assert torch.equal(classifier.state_dict()["classifier.weight"], head)


def test_loading_an_encoder_into_a_model_without_one_is_a_user_error() -> None:
    with pytest.raises(BenchError, match="no conv_encoder, fc_encoder"):
        load_encoder_from_autoencoder(create_model("lenet5"), create_model("conv-autoencoder"))


def test_reading_model_metadata_imports_no_torch() -> None:
    code = (
        "import sys; from bench.models.registry import list_models; list_models(); "
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
