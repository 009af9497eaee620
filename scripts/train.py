"""Train entry point for `accelerate launch`: one process per GPU (or CPU process with --cpu).

    accelerate launch --config_file configs/accelerate/single_gpu.yaml scripts/train.py \
        --config configs/smolvlm-256m-lora.yaml [--resume] [--set train.max_steps=10]

The same function runs behind `vlcultura train --config ...`.
"""
from __future__ import annotations

import argparse
import sys

from vlcultura.train.trainer import TRAIN_ERRORS, parse_overrides, train_recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="recipe YAML (configs/*.yaml)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--set", action="append", default=[], help="override: train.max_steps=10")
    args = parser.parse_args()
    try:
        result = train_recipe(args.config, resume=args.resume, overrides=parse_overrides(args.set))
    except TRAIN_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"trained {result.global_step} steps in {result.wall_time_s:.1f} s; output: {result.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
