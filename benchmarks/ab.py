"""The A/B benchmark; the program is ifx_torch.bench (also `python -m ifx_torch.bench`).

    PYTHONPATH=python python3 benchmarks/ab.py --help
"""
import sys

from ifx_torch.bench import main

if __name__ == "__main__":
    sys.exit(main())
