"""Tiled upscaling of a 1024x1024 picture: dgenerate's upscale processor against a plain spandrel loop doing the same
tiles (the floor), in the same run, and peak memory at tile 256 against untiled.

    python benchmarks/upscale.py [--model 4x.safetensors] [--size 1024] [--tile 256] [--overlap 16] [--repeats 3]

Without --model it uses the tests' tiny random ESRGAN (8 filters, 1 block): the ratio then measures dgenerate's own
cost around the model, and the memory the tiles save; a real ESRGAN (64 filters, 23 blocks) is about 300 times the
work per pixel. Each measurement runs in a fresh subprocess, whose peak resident memory (VmHWM) is reported.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, sys, time
import numpy as np, torch
from PIL import Image
kind, model, size, tile, overlap = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(2)
image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))
if kind == "dgenerate":
    from dgenerate.processors import apply_processors, parse_processor
    spec = (parse_processor(f"upscale;model={model};tile={tile};overlap={overlap}", "--processors"),)
    run = lambda: apply_processors(image, spec)
else:
    from dgenerate.upscale import import_spandrel, read_weights
    spandrel = import_spandrel()
    net = spandrel.ModelLoader().load_from_state_dict(read_weights(__import__("pathlib").Path(model))).eval()
    def run():
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        s, (h, w) = net.scale, x.shape[-2:]
        out = torch.zeros(1, 3, h * s, w * s)
        with torch.inference_mode():
            for t in range(0, h, tile or h):
                for l in range(0, w, tile or w):
                    b, r = min(t + (tile or h), h), min(l + (tile or w), w)
                    y0, x0, y1, x1 = max(0, t - overlap), max(0, l - overlap), min(h, b + overlap), min(w, r + overlap)
                    y = net(x[:, :, y0:y1, x0:x1])
                    out[:, :, t*s:b*s, l*s:r*s] = y[:, :, (t-y0)*s:(b-y0)*s, (l-x0)*s:(r-x0)*s]
        return Image.fromarray(out[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy())
run()
start = time.perf_counter(); run(); seconds = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024}))
"""


def measure(kind: str, model: Path, size: int, tile: int, overlap: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _CHILD, kind, str(model), str(size), str(tile), str(overlap)],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = args.model
    if model is None:
        sys.path.insert(0, str(ROOT))
        from tests.tiny_upscaler_model import build_tiny_esrgan

        model = build_tiny_esrgan(Path(tempfile.mkdtemp(prefix="dgenerate-bench-esrgan-")))
    print(f"{args.size}x{args.size}, model {model.name}, tile {args.tile}, overlap {args.overlap}, "
          f"best of {args.repeats}, 2 threads")
    ours = min((measure("dgenerate", model, args.size, args.tile, args.overlap) for _ in range(args.repeats)),
               key=lambda result: result["seconds"])
    floor = min((measure("spandrel", model, args.size, args.tile, args.overlap) for _ in range(args.repeats)),
                key=lambda result: result["seconds"])
    untiled = measure("dgenerate", model, args.size, 0, 0)
    print(f"dgenerate, tiled:   {ours['seconds']:.2f} s, peak {ours['peak_mib']:.0f} MiB")
    print(f"plain spandrel loop: {floor['seconds']:.2f} s, peak {floor['peak_mib']:.0f} MiB")
    print(f"ratio (dgenerate / plain): {ours['seconds'] / floor['seconds']:.3f}")
    print(f"dgenerate, untiled: {untiled['seconds']:.2f} s, peak {untiled['peak_mib']:.0f} MiB "
          f"(tile {args.tile} saves {untiled['peak_mib'] - ours['peak_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
