"""Start-up: `dgenerate --help` and an argument error, against `python -c "import torch"`.

Usage: .venv/bin/python benchmarks/startup.py [repeats]
"""

from __future__ import annotations

import sys

from _common import DGENERATE, PYTHON, median_of


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    torch_import = median_of(repeats, [PYTHON, "-c", "import torch"])
    diffusers_import = median_of(max(3, repeats // 3), [PYTHON, "-c", "import torch, diffusers.pipelines"])
    help_time = median_of(repeats, [*DGENERATE, "--help"])
    version_time = median_of(repeats, [*DGENERATE, "--version"])
    print(f"median of {repeats} runs, whole processes")
    print(f"python -c 'import torch'              {torch_import:7.3f} s")
    print(f"python -c 'import torch, diffusers'   {diffusers_import:7.3f} s")
    print(f"dgenerate --help                      {help_time:7.3f} s   ratio to import torch: "
          f"{help_time / torch_import:.3f}")
    print(f"dgenerate --version                   {version_time:7.3f} s   ratio to import torch: "
          f"{version_time / torch_import:.3f}")


if __name__ == "__main__":
    main()
