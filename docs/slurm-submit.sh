#!/bin/bash
# Submit a suite to Slurm as a job array of shards (docs/slurm-array.sh), then a merge job that
# starts once every task of the array has ended, however each ended (afterany): one run
# directory and one report, whichever tasks ran. Details: docs/slurm.md.
#
#   docs/slurm-submit.sh [SBATCH OPTION ...] [-- BENCH RUN ARGUMENT ...]
#
#   SUITE=smoke SHARDS=3 docs/slurm-submit.sh --oversubscribe -- --epochs 1      # CPU, quick
#   SUITE=cifar10-classic docs/slurm-submit.sh --partition=gpu --gpus-per-task=1 \
#       --cpus-per-task=8                                                         # GPU nodes
#   ARRAY=2 SHARDS=4 BENCH_OUT=reports/slurm/cifar10-classic-... docs/slurm-submit.sh  # again
#
# SBATCH OPTIONs go to the array's tasks (partition, GPUs and CPUs per task, time, account);
# BENCH RUN ARGUMENTs to every shard's `bench run`. Environment:
#   SUITE         the suite (cifar10-classic)
#   SHARDS        how many shards (4); the array is --array=1-SHARDS
#   ARRAY         which array task ids to submit (1-SHARDS): some of them, to run them again
#   BENCH_PYTHON  the Python that runs bench, on every node (default: the active virtual
#                 environment's, else python3 on PATH), made absolute here and checked
#   BENCH_OUT     the submission's folder, new for each submission (default
#                 reports/slurm/SUITENAME-UTCTIME-XXXX); an existing one with ARRAY resumes shards
#   BENCH_DATA_DIR  the data sets' folder (data); download them beforehand (--download)
# It must be on a file system every node sees. Logs go to BENCH_OUT/logs/. sbatch's own
# variables (SBATCH_ACCOUNT, SBATCH_PARTITION, ...) apply to both jobs.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sbatch_options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    sbatch_options+=("$1")
    shift
done
[ $# -gt 0 ] && shift  # the "--"

SUITE=${SUITE:-cifar10-classic}
SHARDS=${SHARDS:-4}
ARRAY=${ARRAY:-1-$SHARDS}
default_python=${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}
BENCH_PYTHON=$(command -v "${BENCH_PYTHON:-${default_python:-python3}}") || {
    echo "slurm-submit.sh: no Python '${BENCH_PYTHON:-python3}'; set BENCH_PYTHON" >&2
    exit 2
}
case $BENCH_PYTHON in /*) ;; *) BENCH_PYTHON=$PWD/$BENCH_PYTHON ;; esac  # e.g. .venv/bin/python
"$BENCH_PYTHON" -c "import bench" 2>/dev/null || {
    echo "slurm-submit.sh: $BENCH_PYTHON cannot import bench; set BENCH_PYTHON" >&2
    exit 2
}
if [ -z "${BENCH_OUT:-}" ]; then
    mkdir -p reports/slurm
    name=$(basename "$SUITE" .toml)  # a suite given as a path
    BENCH_OUT=$(mktemp -d "reports/slurm/$name-$(date -u +%Y%m%dT%H%M%SZ)-XXXX")
fi
mkdir -p "$BENCH_OUT/logs"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
export SUITE SHARDS BENCH_PYTHON BENCH_OUT

array=$(sbatch --parsable --array="$ARRAY" --output="$BENCH_OUT/logs/shard-%a-%A.out" \
    "${sbatch_options[@]}" "$here/slurm-array.sh" "$@")
array=${array%%;*}  # "id;cluster" on a multi-cluster setup
# the merge exits 1 when jobs of the suite are missing (it still writes what it has)
merge=$(sbatch --parsable --dependency="afterany:$array" --job-name=bench-merge \
    --nodes=1 --ntasks=1 --time=01:00:00 --output="$BENCH_OUT/logs/merge-%j.out" \
    --wrap='exec "$BENCH_PYTHON" -m bench merge "$BENCH_OUT"/shard-*/*/* \
        --out "$BENCH_OUT/merged-$SLURM_JOB_ID"')
merge=${merge%%;*}
echo "out: $BENCH_OUT"
echo "array job: $array (tasks $ARRAY of $SHARDS shards)"
echo "merge job: $merge -> $BENCH_OUT/merged-$merge"
