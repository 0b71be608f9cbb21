#!/usr/bin/env bash
# One-shot check for a machine with a CUDA device (surgvista_mm/benchmarking/gpu_check.py):
#   0. the environment (GPU, memory, compute capability, driver, CUDA, cuDNN, NCCL, torch,
#      flash attention) is printed first;
#   1. the CUDA-parametrized tests (pytest -k cuda);
#   2. configs/pretrain/surgvista_vitb.py (bf16) and surgvista_vitb_fp16.py through the Runner,
#      20 iterations at the config's batch (64 / GPU) on synthetic clips, random teacher;
#   3. the Cholec80 fine-tuning config likewise, bf16 and fp16;
#   4. the bf16 pre-training run under torchrun with 1 rank (NCCL, DDP), and the ViT-L
#      student with FSDP (FlexibleRunner + SurgVistaFSDPStrategy) on 1 rank;
#   5. the nvJPEG loader (tools/benchmark/dataloader.py --gpu-decode);
#   6. the attention kernels (tools/benchmark/attention.py --device cuda).
# Each runner step prints clips/s, data time, max_memory_allocated and the SDPA kernels used.
# One overall deadline (--deadline-min, default 9), each step with its own limit; logs, figures
# and summary.json go to --out-dir (default: $OUT if set, else work_dirs/gpu_check).
# Exit status: 0 every step ok; 1 a step failed, timed out or was skipped; 2 no CUDA device.
#
#   bash tools/benchmark/gpu_check.sh [--out-dir DIR] [--deadline-min 9] [--only STEP...]
#   PY=.venv/bin/python bash tools/benchmark/gpu_check.sh     # pick the python
#   bash tools/benchmark/gpu_check.sh --dry-run   # CPU: the same machinery on the demo configs
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PY:-}" ]; then [ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python; fi
exec "$PY" -c 'import sys; from surgvista_mm.benchmarking.gpu_check import main; sys.exit(main())' "$@"
