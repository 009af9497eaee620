"""Run a whole recipe, every stage in order, resumable: the same as `vlcultura run`.

    python scripts/run.py configs/quickstart.yaml --output outputs/quickstart
"""
import sys

from vlcultura.cli import app

if __name__ == "__main__":
    app(["run", *sys.argv[1:]], prog_name="vlcultura")
