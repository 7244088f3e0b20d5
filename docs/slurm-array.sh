#!/bin/bash
# A suite split over a Slurm job array: task I of 4 runs shard I/4 of the job matrix on its own
# node (one GPU), and a follow-up job, submitted by the first task, merges the four run
# directories into one run with one report once every task has ended.
#
#   sbatch docs/slurm-array.sh                   # the cifar10-classic suite
#   SUITE=smoke sbatch docs/slurm-array.sh       # sbatch passes the environment on
#
# Keep SHARDS equal to the size of --array. Every shard must get the same suite and flags
# (--models, --seeds, --set): the slice a shard takes depends on the whole job matrix.
# A task that fails or is cancelled leaves its jobs out of the merge (they are listed as
# absent); rerun it with --resume on its run directory and merge again.
#
#SBATCH --job-name=bench-shards
#SBATCH --array=1-4
#SBATCH --nodes=1
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --output=bench-shards-%A_%a.out

set -euo pipefail

SUITE=${SUITE:-cifar10-classic}
SHARDS=4
OUT=${OUT:-reports/slurm-$SLURM_ARRAY_JOB_ID}
DATA_DIR=${BENCH_DATA_DIR:-data}  # download data sets once beforehand (bench run --download)

if [ "$SLURM_ARRAY_TASK_ID" -eq 1 ]; then
    # afterany: merge whatever finished, even when a shard failed
    sbatch --dependency="afterany:$SLURM_ARRAY_JOB_ID" --job-name=bench-merge \
        --output="bench-merge-$SLURM_ARRAY_JOB_ID.out" --time=00:30:00 \
        --wrap "python -m bench merge \$(dirname $OUT/shard-*/*/*/run.json) --out $OUT/merged"
fi

# exit code 1 (some job failed) still leaves a complete run directory for the merge
python -m bench run --suite "$SUITE" --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" \
    --data-dir "$DATA_DIR" --out "$OUT/shard-$SLURM_ARRAY_TASK_ID" --no-report --quiet
