#!/usr/bin/env bash
# The training stage's GPU runs (issue 5) on one host with two GPUs, in two parts:
#   families  one run per family shape with bf16 LoRA and QLoRA, two GPUs working in parallel
#             (each process sees one GPU)
#   scaling   the same recipe on 1 GPU, DDP and FSDP through `accelerate launch scripts/train.py`
# Usage on the device machine: bash benchmarks/gpu_train_runs.sh families|scaling OUT_DIR
set -uo pipefail
part=$1 out=$2
common=(--steps 10 --warmup 3)
case "$part" in
  families)
    CUDA_VISIBLE_DEVICES=0 python benchmarks/train_families.py --shapes smolvlm-256m qwen2.5-vl-3b \
      --modes lora qlora --trainers fast "${common[@]}" --out "$out/gpu0" >"$out/gpu0.log" 2>&1 &
    CUDA_VISIBLE_DEVICES=1 python benchmarks/train_families.py --shapes gemma3-4b \
      --modes lora qlora --trainers fast "${common[@]}" --out "$out/gpu1" >"$out/gpu1.log" 2>&1 &
    wait
    cat "$out"/gpu*/train_families.md ;;
  scaling)
    python benchmarks/train_families.py --shapes smolvlm-256m --modes lora --trainers stock \
      --launch single_gpu ddp fsdp "${common[@]}" --out "$out/scaling" >"$out/scaling.log" 2>&1
    cat "$out"/scaling/train_families.md ;;
  *) echo "usage: $0 families|scaling OUT_DIR" >&2; exit 2 ;;
esac
