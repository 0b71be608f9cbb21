#!/usr/bin/env bash
# Slurm training: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Environment: GPUS (total, default 8), GPUS_PER_NODE (default 8), CPUS_PER_TASK (default: the
# config's train_dataloader.num_workers + 2, --cfg-options included, from tools/misc/resources.py),
# SRUN_ARGS (extra srun options), PYTHON, DRY_RUN=1 (print the srun command instead of running it).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments...]" >&2; exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${CPUS_PER_TASK:-}" ]; then  # one core per DataLoader worker + the main process
  CPUS_PER_TASK=$("$PYTHON" "$ROOT/tools/misc/resources.py" "$CONFIG" --cpus -- "$@") || {
    echo "$0: could not read the worker count of $CONFIG; set CPUS_PER_TASK" >&2; exit 2; }
fi
cmd=(srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE"
     --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK"
     --kill-on-bad-exit=1)
# shellcheck disable=SC2206
[ -n "$SRUN_ARGS" ] && cmd+=($SRUN_ARGS)
cmd+=("$PYTHON" -u "$ROOT/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@")
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${cmd[@]}"
