#!/bin/bash
# One task of a suite split over a Slurm job array: array task I of N runs shard I/N of the job
# matrix into $BENCH_OUT/shard-I. Submit it with docs/slurm-submit.sh, which makes the unique
# output folder, names the Python environment once, and submits the merge after the whole
# array (docs/slurm.md). Arguments after the script's name go to `bench run`:
#
#   SUITE=smoke docs/slurm-submit.sh -- --epochs 1
#   SUITE=smoke BENCH_OUT=... BENCH_PYTHON=... sbatch --array=1-3 docs/slurm-array.sh --epochs 1
#
# N is the array's size (SLURM_ARRAY_TASK_COUNT, so --array=1-N is all it takes) unless SHARDS
# is set, as it must be when only some tasks are submitted again (--array=2 of 4). A task whose
# shard folder already holds a run resumes it (`bench run --resume`, with the run's own
# settings): resubmitting a failed or cancelled task finishes its shard, then merge again.
#
# No partition, GPU or CPU count is asked for here: give them to sbatch (or slurm-submit.sh),
# e.g. --partition=gpu --gpus-per-task=1 --cpus-per-task=8 on a GPU partition. A timing run
# takes its node for itself (--exclusive); --oversubscribe lets tasks share a node, each still
# pinned to its own cores (select/cons_tres, task/affinity) with OMP_NUM_THREADS set to them.
#
#SBATCH --job-name=bench-shard
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --exclusive
#SBATCH --time=12:00:00

set -euo pipefail

: "${BENCH_OUT:?set BENCH_OUT to the folder of the submission (docs/slurm-submit.sh does)}"
: "${BENCH_PYTHON:?set BENCH_PYTHON to the Python that has bench (docs/slurm-submit.sh does)}"
SUITE=${SUITE:-cifar10-classic}
SHARDS=${SHARDS:-$SLURM_ARRAY_TASK_COUNT}
DATA_DIR=${BENCH_DATA_DIR:-data}  # download data sets once beforehand (bench run --download)
SHARD=$SLURM_ARRAY_TASK_ID
if [ "$SHARD" -lt 1 ] || [ "$SHARD" -gt "$SHARDS" ]; then
    echo "slurm-array.sh: array task $SHARD is not a shard of 1-$SHARDS;" \
        "submit --array=1-N (or set SHARDS when resubmitting some tasks)" >&2
    exit 2
fi

# torch's threads on exactly the cores Slurm gave this task (it is pinned to them); nproc
# counts those, unless an OMP_NUM_THREADS from the submitting shell tells it otherwise
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}
cores=$(grep Cpus_allowed_list /proc/self/status | cut -f2)
echo "shard $SHARD/$SHARDS on $(hostname): cores $cores, OMP_NUM_THREADS=$OMP_NUM_THREADS"

# exit code 1 (some job failed) still leaves a complete run directory for the merge
common=(--data-dir "$DATA_DIR" --no-report --quiet)
existing=$(find "$BENCH_OUT/shard-$SHARD" -mindepth 3 -maxdepth 3 -name run.json 2>/dev/null \
    | head -n 1 || true)
if [ -n "$existing" ]; then
    exec "$BENCH_PYTHON" -m bench run --resume "$(dirname "$existing")" "${common[@]}"
fi
exec "$BENCH_PYTHON" -m bench run --suite "$SUITE" --shard "$SHARD/$SHARDS" \
    --out "$BENCH_OUT/shard-$SHARD" "${common[@]}" "$@"
