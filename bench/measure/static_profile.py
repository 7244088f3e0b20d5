"""Static profile of a model: parameters, MACs, FLOPs and training-step FLOPs.

Conventions (used everywhere in bench):

- MACs: fvcore's ``FlopCountAnalysis`` total, which counts one multiply-add as 1. It also
  counts a few cheap operators (batch norm, adaptive average pooling, upsampling).
- FLOPs: ``torch.utils.flop_counter.FlopCounterMode``, which counts one multiply-add as 2
  and only matrix products and convolutions, so FLOPs/MACs is about 2 for a conv net.
- Training-step FLOPs: the same counter around a real forward and backward pass.
- Activations: the elements of every leaf module's output in that training forward pass;
  forward activations: the same in the forward pass in eval mode (inference).

Every count is per image: the model runs on a batch of ``batch_size`` and the count is
divided by ``batch_size``. Counts depend on shapes only, never on weight values.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.errors import BenchError, first_line
from bench.measure.memory import is_out_of_memory
from bench.models.registry import create_model, get_model_info
from bench.results.records import FLOPS_PER_MAC_RANGE

with warnings.catch_warnings():
    # Importing fvcore.nn scripts a loss function, which newer torch reports as deprecated.
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

CONVENTIONS = (
    "macs: fvcore FlopCountAnalysis, one multiply-add = 1; flops and train_step_flops: "
    "torch.utils.flop_counter.FlopCounterMode, one multiply-add = 2 (train_step_flops: a "
    "forward and a backward pass of the sum of the outputs); all counts per image"
)


@dataclass(frozen=True)
class LayerRow:
    """One leaf module: its output shape without the batch dimension, its own parameters
    and its MACs per image (fvcore, attributed to the module that ran the operator)."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class StaticProfile:
    """Counts of one model at one input size; ``macs``, ``flops``, ``train_step_flops`` and
    ``macs_by_operator`` (fvcore's operator names: conv, linear, batch_norm...) and
    ``activations`` (elements of the leaf modules' outputs in a training step) and
    ``forward_activations`` (the same in an eval-mode forward pass) are per image.
    ``fvcore_unsupported_ops`` counts the operators fvcore skipped. ``layers`` is None unless
    asked for."""

    params: int
    trainable_params: int
    macs: int
    flops: int
    train_step_flops: int
    activations: int
    forward_activations: int
    input_size: tuple[int, int, int]
    batch_size: int
    fvcore_unsupported_ops: dict[str, int]
    macs_by_operator: dict[str, int]
    layers: tuple[LayerRow, ...] | None = None

    @property
    def flops_macs_ratio(self) -> float | None:
        """FLOPs over MACs; about 2 when both counters see the same operators."""
        return self.flops / self.macs if self.macs else None

    @property
    def ratio_is_unusual(self) -> bool:
        """True where FLOPs/MACs lies outside ``FLOPS_PER_MAC_RANGE``: the two counters
        disagree on which operators count."""
        low, high = FLOPS_PER_MAC_RANGE
        ratio = self.flops_macs_ratio
        return ratio is not None and not low <= ratio <= high

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the fields, GMACs, GFLOPs, the ratio and the conventions."""
        out = asdict(self)
        out["input_size"] = list(self.input_size)
        if self.layers is None:
            del out["layers"]
        else:
            out["layers"] = [
                {**asdict(r), "output_shape": list(r.output_shape)} for r in self.layers
            ]
        out.update(
            gmacs=self.macs / 1e9,
            gflops=self.flops / 1e9,
            flops_macs_ratio=self.flops_macs_ratio,
            conventions=CONVENTIONS,
        )
        return out


COUNTING_BATCH = 2
"""Images a job's counts are taken from (and reported per image): batch norm in train mode
needs more than one value per channel, and a 224-px layout run on small images ends in 1x1
maps."""


def profile_model(
    model: nn.Module,
    input_size: tuple[int, int, int],
    batch_size: int = 1,
    layers: bool = False,
) -> StaticProfile:
    """Count ``model`` on a random batch of ``batch_size`` images of ``input_size`` (C, H, W)
    and report every count per image (the batch count divided by ``batch_size``).

    The forward passes run in eval mode, the training step in train mode (so train-only
    branches count); the model's modes, weights, buffers, ``.grad`` and the global random
    state are as before afterwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    x = _example_batch(model, input_size, batch_size)
    with _restored_state(model, x.device):
        model.eval()
        analysis = _fvcore_analysis(model, x)
        with (
            _output_shapes(model, layers) as shapes,
            _activation_count(model) as forward,
            torch.no_grad(),
        ):
            flops = _count_flops(model, x, backward=False)
        model.train()
        with _activation_count(model) as activations:
            train_step_flops = _count_flops(model, x, backward=True)
    return StaticProfile(
        params=params,
        trainable_params=trainable,
        macs=_per_image(analysis.total(), batch_size),
        flops=_per_image(flops, batch_size),
        train_step_flops=_per_image(train_step_flops, batch_size),
        activations=_per_image(sum(activations), batch_size),
        forward_activations=_per_image(sum(forward), batch_size),
        input_size=tuple(input_size),  # type: ignore[arg-type]
        batch_size=batch_size,
        fvcore_unsupported_ops=dict(sorted(analysis.unsupported_ops().items())),
        macs_by_operator={
            op: _per_image(n, batch_size) for op, n in analysis.by_operator().most_common()
        },
        layers=_layer_rows(model, shapes, analysis, batch_size) if layers else None,
    )


def count_macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """fvcore MACs of one image of ``input_size`` through ``model`` in eval mode (cheaper
    than :func:`profile_model`: one traced forward pass)."""
    x = _example_batch(model, input_size, 1)
    with _restored_state(model, x.device):
        model.eval()
        return int(_fvcore_analysis(model, x).total())


def profile_registered(
    name: str,
    input_size: tuple[int, int, int],
    num_classes: int,
    batch_size: int = 1,
    layers: bool = False,
) -> StaticProfile:
    """Profile the registered model ``name`` built to read ``input_size`` (zero weights:
    counts depend on shapes only); an input size the model cannot take is a ``BenchError``."""
    model = counting_model(name, num_classes=num_classes, in_channels=input_size[0])
    with input_fits(name, input_size):
        return profile_model(model, input_size, batch_size=batch_size, layers=layers)


@contextmanager
def input_fits(name: str, input_size: tuple[int, int, int]) -> Iterator[None]:
    """Turn the shape mismatch of running model ``name`` on ``input_size`` into a
    ``BenchError`` naming ``--input-size``; an allocation failure is no mismatch and passes."""
    try:
        yield
    except (RuntimeError, ValueError) as err:  # a shape the model cannot take (ValueError:
        # batch norm given one value per channel, as 1x1 maps of a batch of one are)
        if is_out_of_memory(err):
            raise
        size = "x".join(map(str, input_size))
        raise BenchError(f"--input-size {size} does not fit {name}: {first_line(err)}") from None


def meta_flops(
    name: str, input_size: tuple[int, int, int], num_classes: int, kwargs: Mapping[str, Any]
) -> tuple[int, int]:
    """The training-step FLOPs (forward and backward, train mode) and the forward FLOPs (eval
    mode) per image of the registered model ``name``, counted as :func:`profile_model` counts
    them but on the meta device: from shapes alone, in milliseconds, the same on every
    machine. ``kwargs`` go to ``create_model``."""
    model = meta_model(name, num_classes=num_classes, in_channels=input_size[0], **kwargs)
    x = torch.empty((COUNTING_BATCH, *input_size), device="meta")
    train_step = _count_flops(model.train(), x, backward=True)
    with torch.no_grad():
        forward = _count_flops(model.eval(), x, backward=False)
    return _per_image(train_step, COUNTING_BATCH), _per_image(forward, COUNTING_BATCH)


def registered_facts(name: str, macs: bool = True) -> dict[str, Any]:
    """A registered model's facts and its parameters (counted on the meta device) and, with
    ``macs``, its fvcore MACs per image at its input size, as JSON-ready values."""
    info = get_model_info(name)
    facts: dict[str, Any] = {
        "name": info.name,
        "family": info.family,
        "year": info.year,
        "salient_feature": info.salient_feature,
        "task": info.task,
        "input_size": list(info.input_size),
        "num_classes": info.num_classes,
        "params": sum(p.numel() for p in meta_model(name).parameters()),
    }
    if macs:
        facts["macs"] = count_macs(counting_model(name), info.input_size)
    return facts


def meta_model(name: str, **kwargs: Any) -> nn.Module:
    """The registered model ``name`` built on the meta device: shapes and parameter counts
    without memory or weight initialisation. ``kwargs`` go to ``create_model``."""
    with torch.device("meta"):
        return create_model(name, **kwargs)


def counting_model(name: str, **kwargs: Any) -> nn.Module:
    """The registered model ``name`` on the CPU with zero weights, for counting: skipping
    the random initialisation saves seconds for large models and changes no count."""
    model = meta_model(name, **kwargs).to_empty(device="cpu")
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.zero_()
    return model


def _layer_rows(
    model: nn.Module,
    shapes: dict[str, tuple[int, ...]],
    analysis: FlopCountAnalysis,
    batch_size: int,
) -> tuple[LayerRow, ...]:
    """One row per leaf module that ran, in calling order."""
    modules = dict(model.named_modules())
    macs = analysis.by_module()
    return tuple(
        LayerRow(
            name=name,
            type=type(modules[name]).__name__,
            output_shape=shape,
            params=sum(p.numel() for p in modules[name].parameters()),
            macs=_per_image(macs[name], batch_size),
        )
        for name, shape in shapes.items()
    )


def _example_batch(model: nn.Module, input_size: tuple[int, int, int], batch: int) -> torch.Tensor:
    """A random batch on the model's device and in its dtype, drawn from a private generator."""
    if len(input_size) != 3 or min(input_size) < 1:
        raise ValueError(f"input_size must be three positive sizes (C, H, W), got {input_size}")
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None else torch.float32
    generator = torch.Generator().manual_seed(0)
    return torch.randn((batch, *input_size), generator=generator).to(device, dtype)


def _fvcore_analysis(model: nn.Module, x: torch.Tensor) -> FlopCountAnalysis:
    """fvcore's analysis of one traced forward pass, with its log warnings off (the skipped
    operators are read from ``unsupported_ops()`` instead)."""
    analysis = (
        FlopCountAnalysis(model, x).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    )
    with torch.no_grad():
        analysis.total()  # runs the trace once; later queries reuse it
    return analysis


def _count_flops(model: nn.Module, x: torch.Tensor, backward: bool) -> int:
    """FlopCounterMode's total for a forward pass, and the backward of the outputs' sum."""
    with FlopCounterMode(display=False) as counter:
        output = model(x)
        if backward:
            loss = sum(t.float().sum() for t in _tensors(output))
            if isinstance(loss, torch.Tensor) and loss.requires_grad:
                loss.backward()
    return int(counter.get_total_flops())


@contextmanager
def _restored_state(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Put back module modes, buffers (batch-norm statistics), ``.grad`` and random state."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    for p, _ in grads:
        p.grad = None  # a backward would add into an existing gradient in place
    rng_devices = []
    if device.type == "cuda":
        rng_devices = [torch.cuda.current_device() if device.index is None else device.index]
    try:
        with torch.random.fork_rng(devices=rng_devices), torch.enable_grad():
            yield
    finally:
        for module, training in modes:
            module.training = training
        for p, grad in grads:
            p.grad = grad
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


@contextmanager
def _output_shapes(model: nn.Module, enabled: bool) -> Iterator[dict[str, tuple[int, ...]]]:
    """Record each leaf module's output shape (batch dimension dropped), in calling order."""
    shapes: dict[str, tuple[int, ...]] = {}
    if not enabled:
        yield shapes
        return

    def hook(name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            tensors = _tensors(output)
            shapes[name] = tuple(tensors[0].shape[1:]) if tensors else ()

        return record

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if next(module.children(), None) is None
    ]
    try:
        yield shapes
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def _activation_count(model: nn.Module) -> Iterator[list[int]]:
    """Collect the number of elements of each leaf module's output, one entry per call."""
    counts: list[int] = []

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        counts.append(sum(t.numel() for t in _tensors(output)))

    handles = [m.register_forward_hook(count) for m in _leaves(model)]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _leaves(model: nn.Module) -> list[nn.Module]:
    """The modules of ``model`` without children."""
    return [m for m in model.modules() if next(m.children(), None) is None]


def _tensors(output: Any) -> list[torch.Tensor]:
    """The tensors of a model output: a tensor, or a tuple/list/namedtuple/dict of them."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for t in output if isinstance(t, torch.Tensor)]
    return []


def _per_image(total: float, batch_size: int) -> int:
    return round(total / batch_size)
