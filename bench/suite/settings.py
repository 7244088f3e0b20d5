"""Every setting of a suite and of its jobs, defined once.

Each setting is a field of a frozen dataclass below, with its default, its type and a
:class:`bench.suite.schema.Setting` (help text, choices, minimum, whether ``bench run`` has a
flag for it). Everything else is derived from these dataclasses: the schema that validates
suite files and ``--set`` values (``bench.suite.schema.schema_of``), the tables of
``docs/suites.md`` (``bench.suite.docs``) and the ``bench run`` flags that override a setting for
every job. The lists of choices are defined here and imported wherever they are needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.models.registry import TASKS
from bench.suite.schema import section, setting
from bench.suite.variants import DEVICE_PARTS

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "tf32", "amp-bf16", "amp-fp16")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
LOADERS = ("auto", "resident", "torch")
DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100", "imagenette", "digits", "synthetic")
# torchvision's three Imagenette downloads (the shorter edge of its images).
IMAGENETTE_SIZES = ("full", "320px", "160px")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "one-cycle", "plateau")
# The image shape (C, H, W) and class count of each data set that has fixed ones, as published
# (``synthetic`` takes both from its settings).
DATASET_SHAPES: Mapping[str, tuple[tuple[int, int, int], int]] = {
    "mnist": ((1, 28, 28), 10),
    "fashion-mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    # decoded at `resize` px (shorter edge, then the centre crop); 224 where `resize` is 0
    "imagenette": ((3, 224, 224), 10),
    "digits": ((1, 32, 32), 10),
}
# The number of training and test images of each data set, as published (``digits``: the split
# of ``bench.data.digits``; ``synthetic``: the numbers drawn when ``train_size`` and
# ``test_size`` are 0), so that a job's cost is known without its data.
DATASET_SIZES: Mapping[str, tuple[int, int]] = {
    "mnist": (60_000, 10_000),
    "fashion-mnist": (60_000, 10_000),
    "cifar10": (50_000, 10_000),
    "cifar100": (50_000, 10_000),
    "digits": (1437, 360),
    "synthetic": (1024, 256),
    "imagenette": (9469, 3925),  # the same images at every size (full, 320px, 160px)
}
# Bounds on every size-like setting and on the flags made from them: generous for any real use,
# small enough that a typo (`10**17`) is refused when the suite or command line is read instead
# of failing a job after training, or tracing, timing or allocating without end.
# The largest image side (`resize`, a synthetic `image_size`, `--input-size`), channels included,
# in pixels: 16 times ImageNet's usual 224.
MAX_IMAGE_SIDE = 4096
# The largest batch of any batch-size setting or flag: 65,536 images, the largest batches of
# large-batch ImageNet training (spread over hundreds of GPUs there); at 3x224x224 in float32
# such a batch alone takes 39 GB.
MAX_BATCH = 2**16
# The most classes a classifier head may have: ImageNet-21k has 21,841.
MAX_CLASSES = 100_000
# The most traced steps: the profiler keeps every event of every traced step in memory until
# the trace is written, and a trace is read one step at a time.
MAX_TRACE_STEPS = 1000
# The most timed forward passes per precision and batch size (each one's latency is kept).
MAX_ITERATIONS = 1_000_000
# The largest seed: NumPy's seed range (``np.random.seed``), which every job seeds.
MAX_SEED = 2**32 - 1
# The longest suite name: it is part of every run directory's name (at most 255 bytes).
MAX_SUITE_NAME = 100
# Parts of a variant name besides a precision (``amp-bf16+channels_last+compile``, ``cuda``).
VARIANT_FLAGS = ("channels_last", "compile", *DEVICE_PARTS)


@dataclass(frozen=True)
class OptimizerConfig:
    """``[optimizer]`` (and ``[finetune.optimizer]``)."""

    name: str = setting("sgd", "the optimizer", choices=OPTIMIZERS)
    lr: float = setting(0.01, "learning rate (the peak rate for `one-cycle`)", minimum=0.0)
    momentum: float = setting(0.0, "SGD momentum", minimum=0.0)
    nesterov: bool = setting(False, "SGD Nesterov momentum")
    weight_decay: float = setting(0.0, "weight decay (decoupled for `adamw`)", minimum=0.0)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam/AdamW betas", minimum=0.0, below=1.0)


@dataclass(frozen=True)
class DatasetConfig:
    """``[dataset]``."""

    name: str = setting(
        "synthetic",
        "real data sets are read from `--data-dir` in torchvision's layout",
        choices=DATASETS,
    )
    resize: int = setting(
        0,
        "resize images to this square size; 0 keeps the native size",
        minimum=0,
        maximum=MAX_IMAGE_SIDE,
    )
    normalize: bool = setting(True, "subtract the data set's per-channel mean, divide by its std")
    random_crop_padding: int = setting(
        0,
        "training augmentation: pad by this many pixels, crop back at random; 0 disables",
        minimum=0,
        maximum=MAX_IMAGE_SIDE,
    )
    random_resized_crop: float = setting(
        0.0,
        "training augmentation: crop a random area of at least this share of each image (aspect "
        "3/4 to 4/3), resized back to the image's size, as torchvision's `RandomResizedCrop` "
        "(scale from this share to 1); 0 disables",
        minimum=0.0,
        maximum=1.0,
    )
    hflip: bool = setting(False, "training augmentation: random horizontal flips")
    train_size: int = setting(0, "use only the first N training images; 0 uses all", minimum=0)
    test_size: int = setting(0, "use only the first N test images; 0 uses all", minimum=0)
    drop_last: bool = setting(False, "drop the last partial training batch")
    image_size: tuple[int, int, int] = setting(
        (3, 32, 32),
        "`synthetic` only: channels, height, width",
        minimum=1,
        maximum=MAX_IMAGE_SIDE,
    )
    num_classes: int = setting(
        10, "`synthetic` only: number of classes", minimum=2, maximum=MAX_CLASSES
    )
    data_seed: int = setting(
        0, "`synthetic` only: seed of the generated images", minimum=0, maximum=MAX_SEED
    )
    imagenette_size: str = setting(
        "320px",
        "`imagenette` only: which of torchvision's downloads to read (its images' shorter edge)",
        choices=IMAGENETTE_SIZES,
    )
    cache: bool = setting(
        True,
        "`imagenette` only: keep the decoded images in a file beside the JPEGs, read by later "
        "runs instead of decoding again (checked against the files; rebuilt where they changed)",
    )

    def input_shape(self) -> tuple[tuple[int, int, int], int]:
        """The (C, H, W) of the images a model is given (after ``resize``) and the number of
        classes."""
        if self.name == "synthetic":
            (channels, height, width), classes = self.image_size, self.num_classes
        else:
            (channels, height, width), classes = DATASET_SHAPES[self.name]
        if self.resize:
            height = width = self.resize
        return (channels, height, width), classes

    def split_sizes(self) -> tuple[int, int]:
        """The number of training and test images a job uses: ``train_size`` and
        ``test_size``, or the data set's whole splits (``DATASET_SIZES``) where they are 0."""
        train, test = DATASET_SIZES[self.name]
        return self.train_size or train, self.test_size or test


@dataclass(frozen=True)
class ScheduleConfig:
    """``[schedule]``."""

    name: str = setting(
        "none",
        "`cosine` and `one-cycle` step every batch; `step` and `plateau` every epoch",
        choices=SCHEDULES,
    )
    step_size: int = setting(1, "`step`: epochs between decays", minimum=1)
    gamma: float = setting(0.1, "`step`: decay factor", minimum=0.0)
    factor: float = setting(
        0.1, "`plateau`: decay factor when the test loss stops improving", minimum=0.0, below=1.0
    )
    patience: int = setting(2, "`plateau`: epochs without improvement before decaying", minimum=0)
    pct_start: float = setting(
        0.3,
        "`one-cycle`: share of steps spent increasing the rate (a share of one step, as "
        "0.25 of 4 steps: that step at the starting rate, peak / 25)",
        above=0.0,
        below=1.0,
    )


@dataclass(frozen=True)
class FinetuneConfig:
    """``[finetune]`` (recipe ``autoencode``)."""

    model: str = setting(
        "conv-autoencoder-classifier",
        "classifier whose encoder is loaded from the pretrained autoencoder",
        doc_type="model name",
    )
    epochs: int = setting(0, "fine-tuning epochs; 0 means `epochs`", minimum=0)
    optimizer: OptimizerConfig = section(OptimizerConfig, "optimizer of the fine-tuning phase")


@dataclass(frozen=True)
class InferenceConfig:
    """``[inference]``: after training, time the trained model's forward pass (eval mode) per
    precision and batch size; rows in the run's inference table, metrics ``latency_ms_p50``
    (batch 1) and ``inference_images_per_s`` (largest batch that fits)."""

    batch_sizes: tuple[int, ...] = setting(
        (),
        "batch sizes to time, e.g. `[1, 16, 128]`; empty: no inference measurement. A batch "
        "that runs out of memory is recorded as `oom` and larger ones are skipped",
        minimum=1,
        maximum=MAX_BATCH,
        unique=True,
    )
    precisions: tuple[str, ...] = setting(
        (),
        "precisions to time (the metrics use the first); empty: the job's own",
        choices=PRECISIONS,
        doc_type="list of distinct " + ", ".join(f"`{p}`" for p in PRECISIONS),
        unique=True,
    )
    min_iterations: int = setting(
        20, "time at least this many forward passes", minimum=1, maximum=MAX_ITERATIONS
    )
    min_time_s: float = setting(
        2.0, "and for at least this long (s), per precision and batch size", minimum=0.0
    )


@dataclass(frozen=True)
class JobConfig:
    """Every setting of one job (suite level, or per model)."""

    recipe: str = setting(
        "classify",
        "`autoencode`: pretrain with MSE, then fine-tune `finetune.model` from the pretrained "
        "encoder",
        choices=TASKS,
    )
    epochs: int = setting(
        5, "training epochs (pretraining epochs for `autoencode`)", minimum=1, flag=True
    )
    batch_size: int = setting(
        64,
        "training batch size (under torchrun the global batch, split over the processes)",
        minimum=1,
        maximum=MAX_BATCH,
        flag=True,
    )
    eval_batch_size: int = setting(
        0, "evaluation batch size; 0 means `batch_size`", minimum=0, maximum=MAX_BATCH
    )
    device: str = setting(
        "auto",
        "training device; `auto` picks the GPU when there is one",
        choices=DEVICES,
        flag=True,
    )
    precision: str = setting(
        "fp32",
        "numeric precision; `fp32` disables TF32; `amp-fp16` uses gradient scaling",
        choices=PRECISIONS,
        flag=True,
    )
    channels_last: bool = setting(False, "NHWC memory layout for model and inputs", flag=True)
    compile: str = setting(
        "",
        "`torch.compile` mode; compilation lands in the first (warm-up) epoch, reported apart "
        "as `first_epoch_time_s` and left out of the steady-state figures (`epoch_time_s`, "
        "`images_per_s`); static shapes only (`dynamic=False`, the last partial training batch "
        "dropped), the graphs compiled in the record's `extra.compiled_graphs*`",
        choices=("", *COMPILE_MODES),
        flag=True,
        flag_const="default",
    )
    deterministic: bool = setting(
        False,
        "`torch.use_deterministic_algorithms(True)`, cuDNN deterministic, no autotuning",
    )
    loader: str = setting(
        "auto",
        "data loading path; `resident`: the whole data set on the training device, batches "
        "augmented there; `torch`: torchvision transforms per image in a DataLoader; `auto`: "
        "resident when the train and test images (uint8) take at most a quarter of the GPU's "
        "free memory, else torch; always resident on the CPU, where the images already are in "
        "memory. The choice is recorded as `extra.loader`",
        choices=LOADERS,
        flag=True,
    )
    num_workers: int = setting(
        0,
        'DataLoader workers (`loader = "torch"`); order and augmentation follow the job\'s '
        "seed for a given `num_workers`",
        minimum=0,
    )
    target_acc: float | None = setting(
        None,
        "time (and energy) to reach this test accuracy is recorded",
        minimum=0.0,
        maximum=100.0,
        doc_type="number (%) in [0, 100] or absent",
        doc_default="absent",
    )
    stop_at_target: bool = setting(False, "stop training once `target_acc` is reached")
    telemetry_interval_s: float = setting(0.1, "NVML sampling interval (GPU runs)", minimum=0.001)
    find_batch_size: bool = setting(
        False,
        "on CUDA, pin each job's batch to the largest power of two whose training step fits "
        "in memory; it is found before training, printed on stderr and recorded (`batch_size`, "
        "`extra.batch_size_searched`, `extra.batch_size_search`); a no-op on the CPU, which has "
        "no out-of-memory to probe (it says so and keeps the suite's batch)",
        flag=True,
    )
    trace_steps: int = setting(
        0,
        "trace this many training steps with `torch.profiler` (20 for a bare `--trace`, none "
        "for 0); they run after the job's training, on a fresh copy of its model after "
        "warm-up steps, so they are not part of the epoch figures; writes a Chrome trace and "
        "tables of the top operators and of the time per top-level module (docs/profiling.md)",
        minimum=0,
        maximum=MAX_TRACE_STEPS,
        flag=True,
        flag_name="trace",
        flag_const=20,
    )
    collectors: bool = setting(
        True,
        "collect memory peaks and GPU telemetry beside the loop; `false` only to measure their "
        "cost",
    )
    label_smoothing: float = setting(
        0.0,
        "`classify`: cross-entropy label smoothing (torch's `label_smoothing`), in the training "
        "and the test loss alike, as torchvision's reference recipes",
        minimum=0.0,
        below=1.0,
    )
    model_kwargs: Mapping[str, Any] = setting(
        {}, "extra constructor arguments, e.g. `{ aux_logits = true }`"
    )
    dataset: DatasetConfig = section(DatasetConfig, "the data set and its augmentation")
    optimizer: OptimizerConfig = section(OptimizerConfig, "the optimizer")
    schedule: ScheduleConfig = section(ScheduleConfig, "the learning-rate schedule")
    finetune: FinetuneConfig = section(FinetuneConfig, "the fine-tuning phase of `autoencode`")
    inference: InferenceConfig = section(
        InferenceConfig, "inference timing of the trained model (`bench infer` after training)"
    )

    @property
    def drops_last_batch(self) -> bool:
        """Whether training leaves out its last partial batch: the suite asks for it
        (``dataset.drop_last``), or the job is compiled (every step one shape, one static
        graph)."""
        return self.dataset.drop_last or bool(self.compile)

    @property
    def finetune_epochs(self) -> int:
        """The fine-tuning phase's epochs (``finetune.epochs``; 0 means the job's ``epochs``)."""
        return self.finetune.epochs or self.epochs

    def trained_images(self, images: int) -> int:
        """How many of ``images`` one training epoch takes (``trained_images``)."""
        return trained_images(images, self.batch_size, self.drops_last_batch)


def trained_images(images: int, batch: int, drop_last: bool) -> int:
    """The images one training epoch over ``images`` trains at ``batch``: all of them, or
    those of its whole batches where the last partial batch is dropped."""
    return images - images % batch if drop_last else images


@dataclass(frozen=True)
class SuiteConfig:
    """The fields of a suite file besides its job settings."""

    name: str = setting(
        "",
        f"suite name, used in run directory names (at most {MAX_SUITE_NAME} characters)",
        doc_default="file name",
    )
    description: str = setting("", "one line shown in reports")
    seeds: tuple[int, ...] = setting(
        (0,), "one job per model × seed × variant", minimum=0, maximum=MAX_SEED, unique=True
    )
    variants: tuple[str, ...] = setting(
        (),
        'e.g. `["fp32", "amp-bf16+channels_last", "tf32+compile"]`; parts: '
        + ", ".join(f"`{part}`" for part in (*PRECISIONS, *VARIANT_FLAGS))
        + " (a device part sets the job's device, over `device` and `--device`; `cuda` on a "
        "machine without CUDA: its jobs are skipped)",
        unique=True,
    )
    thresholds: Mapping[str, Any] = setting(
        {},
        "regression thresholds for `bench compare`, e.g. "
        '`{ epoch_time_s = "+10%", test_acc = -1.0 }`',
    )
    models: tuple[Any, ...] = setting(
        (),
        "model names (`bench list`), or tables `{ name = ..., <job settings> }`",
        doc_type="list",
        doc_default="required",
        in_schema=False,
    )


@dataclass(frozen=True)
class ProfileSuite:
    """A profile suite (``kind = "profile"``): models counted at one input size, not trained."""

    kind: str = setting(None, "marks a profile suite", choices=("profile",))
    name: str = setting("", "suite name; the file name when empty")
    description: str = setting("", "one line shown above the table")
    input_size: tuple[int, int, int] = setting(
        (3, 224, 224), "C, H, W", minimum=1, maximum=MAX_IMAGE_SIDE
    )
    num_classes: int = setting(1000, "classifier outputs", minimum=1, maximum=MAX_CLASSES)
    batch_size: int = setting(
        1, "images per counted batch (counts are per image)", minimum=1, maximum=MAX_BATCH
    )
    models: tuple[str, ...] = setting(None, "registered model names", unique=True)
