"""From a job's data set settings to loaded splits and its train and test loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.data.datasets import load_dataset
from bench.data.imageset import DataSplits
from bench.data.loader import BatchLoader
from bench.data.torch_loader import TorchDataLoader
from bench.suite.settings import DatasetConfig, JobConfig


def dataset_key(config: JobConfig) -> str:
    """Jobs whose data sets share a key (their name and loading options) share one loaded copy."""
    options = sorted(dataset_options(config.dataset).items())
    return f"{config.dataset.name}|{'|'.join(f'{k}={v}' for k, v in options)}"


def dataset_options(cfg: DatasetConfig) -> dict[str, Any]:
    """The options ``load_dataset`` takes for ``cfg`` (0 sizes mean the data set's default)."""
    options: dict[str, Any] = {"train_size": cfg.train_size, "test_size": cfg.test_size}
    if cfg.name == "synthetic":
        options.update(
            image_size=tuple(cfg.image_size), num_classes=cfg.num_classes, seed=cfg.data_seed
        )
    if cfg.name == "imagenette":
        options.update(side=cfg.resize, size=cfg.imagenette_size, cache=cfg.cache)
    return options


def load_splits(cfg: DatasetConfig, data_dir: Path, download: bool) -> DataSplits:
    """Load the data set a job names."""
    return load_dataset(cfg.name, data_dir, download, dataset_options(cfg))


def make_loaders(
    splits: DataSplits,
    config: JobConfig,
    seed: int,
    device: torch.device,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[BatchLoader, BatchLoader]:
    """The job's training loader (shuffled, augmented) and test loader (neither).

    For process ``rank`` of ``world_size``: its share of the data and of each batch (the
    suite's batch sizes are global; the training batch splits evenly, an evaluation batch
    rounds up). The training loader drops the last partial batch where the job does
    (``JobConfig.drops_last_batch``: asked for, or compiled).
    """
    cfg = config.dataset
    mean, std = (splits.mean, splits.std) if cfg.normalize else (None, None)
    common: dict[str, Any] = {
        "device": device,
        "resize": cfg.resize or None,
        "mean": mean,
        "std": std,
        "rank": rank,
        "world_size": world_size,
    }
    loader = loader_class(config.loader, splits, device)
    if loader is TorchDataLoader:
        common["num_workers"] = config.num_workers
    train = loader(
        splits.train,
        config.batch_size // world_size,
        shuffle=True,
        seed=seed,
        drop_last=config.drops_last_batch,
        crop_padding=cfg.random_crop_padding,
        resized_crop=cfg.random_resized_crop,
        hflip=cfg.hflip,
        **common,
    )
    eval_batch = -(-(config.eval_batch_size or config.batch_size) // world_size)
    test = loader(splits.test, eval_batch, **common)
    return train, test


# Share of free device memory the resident loader may take for a data set's uint8 images.
RESIDENT_SHARE = 0.25


def loader_class(choice: str, splits: DataSplits, device: torch.device) -> type[BatchLoader]:
    """``resident`` or ``torch`` as asked; ``auto``: resident when the uint8 images take at most
    ``RESIDENT_SHARE`` of the device's free memory (always on the CPU, where they already are)."""
    if choice == "torch":
        return TorchDataLoader
    if choice == "resident" or device.type != "cuda":
        return BatchLoader
    size = sum(s.images.numel() * s.images.element_size() for s in (splits.train, splits.test))
    free, _total = torch.cuda.mem_get_info(device)
    return BatchLoader if size <= RESIDENT_SHARE * free else TorchDataLoader
