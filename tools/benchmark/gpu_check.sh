#!/usr/bin/env bash
# The GPU checks of the performance issue in one run, for a machine with a CUDA device:
#   1. the test suite (device-agnostic tests also run on 'cuda', see tests/helpers/devices.py);
#   2. tools/benchmark/pretrain_step.py --device cuda at fp32 / bf16 / fp16;
#   3. tools/benchmark/finetune_step.py --device cuda (fp32, bf16, with checkpointing);
#   4. tools/benchmark/attention.py --device cuda;
#   5. tools/benchmark/dataloader.py --gpu-decode (nvJPEG decoding);
#   6. one tools/train.py epoch of each demo config on cuda with the bf16 AmpOptimWrapper.
# Each step has its own time limit (STEP_TIMEOUT seconds, default 300) and log; a failing step
# does not stop the others. Logs and JSON figures go to OUT_DIR (default: $OUT if set, else
# work_dirs/gpu_check); the last lines of each log are printed.
#
#   bash tools/benchmark/gpu_check.sh [OUT_DIR]        # PY=.venv/bin/python to pick the python
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${1:-${OUT:-work_dirs/gpu_check}}
PY=${PY:-python}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
mkdir -p "$OUT_DIR"
"$PY" -c "import torch, sys; ok = torch.cuda.is_available(); \
print(torch.__version__, torch.cuda.get_device_name(0) if ok else 'no CUDA device'); \
sys.exit(0 if ok else 1)" | tee "$OUT_DIR/device.txt" || exit 1

step() {  # step NAME COMMAND...: run with a time limit, log, print the tail
  local name=$1; shift
  echo "== $name: $*"
  timeout "$STEP_TIMEOUT" "$@" > "$OUT_DIR/$name.log" 2>&1
  local rc=$?
  echo "rc=$rc" >> "$OUT_DIR/$name.log"
  tail -n 15 "$OUT_DIR/$name.log"
}

step tests "$PY" -m pytest tests -q -x -p no:cacheprovider
step pretrain "$PY" tools/benchmark/pretrain_step.py --device cuda --steps 5 \
    --variants fp32 bf16 fp16 --json "$OUT_DIR/pretrain.json"
step finetune "$PY" tools/benchmark/finetune_step.py --device cuda --steps 5 \
    --json "$OUT_DIR/finetune.json"
step attention "$PY" tools/benchmark/attention.py --device cuda --reps 10
step loader env OMP_NUM_THREADS=1 "$PY" tools/benchmark/dataloader.py --clips 20 --rounds 3 \
    --gpu-decode
AMP="optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=bfloat16 train_cfg.max_epochs=1"
step demo_data "$PY" tools/make_demo_data.py --out data/demo   # where the demo configs read it
# shellcheck disable=SC2086  # AMP is a list of --cfg-options items
step demo_pretrain "$PY" tools/train.py configs/pretrain/surgvista_demo.py \
    --work-dir "$OUT_DIR/demo_pretrain" --cfg-options $AMP
# shellcheck disable=SC2086
step demo_finetune "$PY" tools/train.py configs/finetune/surgvista_demo_phase.py \
    --work-dir "$OUT_DIR/demo_finetune" --cfg-options $AMP
echo "logs in $OUT_DIR"
