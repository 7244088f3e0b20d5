"""A small two-model digits suite for end-to-end tests, and the result columns a seed fixes."""

from __future__ import annotations

# Columns of results.csv that depend only on the seed (not on timing or the machine).
SEED_COLUMNS = (
    "job_id",
    "model",
    "seed",
    "status",
    "params",
    "forward_macs_per_image",
    "forward_flops_per_image",
    "epochs",
    "test_acc_pct",
    "best_test_acc_pct",
    "test_top5_pct",
    "train_loss",
    "test_loss",
)


def tiny_suite(
    name: str = "tiny", epochs: int = 2, train_size: int = 512, test_size: int = 128
) -> str:
    """lenet5-relu and lenet5 on digits, seeds 0 and 1, on the CPU."""
    return f"""
name = "{name}"
epochs = {epochs}
batch_size = 64
seeds = [0, 1]
device = "cpu"
[dataset]
name = "digits"
train_size = {train_size}
test_size = {test_size}
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[models]]
name = "lenet5-relu"
[[models]]
name = "lenet5"
"""
