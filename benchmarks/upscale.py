"""Tiled upscaling of a 1024x1024 picture: dgenerate's upscale processor against a plain spandrel loop doing the same
tiles (the floor), in the same run, and peak memory at tile 256 against untiled.

    python benchmarks/upscale.py [--model 4x.safetensors] [--size 1024] [--tile 256] [--overlap 16] [--repeats 3]
    python benchmarks/upscale.py --seams [--model 4x.safetensors]

Without --model it uses the tests' tiny random ESRGAN (8 filters, 1 block): the ratio then measures dgenerate's own
cost around the model, and the memory the tiles save; a real ESRGAN (64 filters, 23 blocks) is about 300 times the
work per pixel. Each measurement runs in a fresh subprocess, whose peak resident memory (VmHWM) is reported.

--seams measures the bound tiles keep to instead: a 192x192 picture (a frame of a real video from ../shared/samples
where it exists, else a seeded pattern) upscaled in tiles of 64 at overlaps 0 to 48, each against the untiled picture:
the largest difference in 8-bit levels and the share of values off by more than one. Without --model it uses
ESRGAN's full architecture (64 filters, 23 blocks, x4) with seeded random weights; give a real model's file to
measure the model you use.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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


def seams(model: Path | None) -> None:
    """Tiled against untiled at each overlap, for `model` (None: a full-size ESRGAN with seeded random weights)."""
    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from dgenerate.processors import apply_processors, parse_processor

    if model is None:
        from safetensors.torch import save_file

        from dgenerate.upscale import import_spandrel

        import_spandrel()
        from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

        torch.manual_seed(0)
        network = RRDBNet(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)
        model = Path(tempfile.mkdtemp(prefix="dgenerate-bench-esrgan-")) / "4x-esrgan-random.safetensors"
        save_file({name: tensor.contiguous() for name, tensor in network.state_dict().items()}, model)
    video = ROOT.parent / "shared/samples/media/androidx-media__bbb_800x640_768kbps_30fps_avc_2b_firstpts_10_sec.mp4"
    if video.is_file():
        import av

        with av.open(str(video)) as container:
            frame = next(container.decode(video=0)).to_image().convert("RGB")
        picture, source = frame.crop((300, 200, 492, 392)), f"{video.name}, first frame, 192x192 from (300, 200)"
    else:
        rows, columns = np.mgrid[0:192, 0:192]
        noise = np.random.default_rng(0).integers(0, 64, (192, 192, 3))
        picture = Image.fromarray((np.stack([rows, columns, rows + columns], -1) % 192 + noise).astype(np.uint8))
        source = "a seeded pattern, 192x192"

    def upscaled(tile: int, overlap: int) -> Any:
        spec = parse_processor(f"upscale;model={model};tile={tile};overlap={overlap}", "--processors")
        return np.asarray(apply_processors(picture, (spec,))).astype(np.int16)

    print(f"{model.name} on {source}, tile 64, against untiled")
    whole = upscaled(0, 0)
    print("| overlap | largest difference (levels) | values off by more than one |\n|---|---|---|")
    for overlap in (0, 4, 8, 16, 32, 48):
        difference = np.abs(upscaled(64, overlap) - whole)
        print(f"| {overlap} | {difference.max()} | {(difference > 1).mean():.4%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seams", action="store_true", help="measure tiled against untiled at each overlap")
    args = parser.parse_args()
    if args.seams:
        seams(args.model)
        return
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
