"""The progress bar: every denoising step of a request, and the images written so far; file names printed above it
(or, where stderr is no terminal, one line per file and no bar)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Progress:
    """The render stage counts steps (from diffusers' step callback), the output stage counts images as it writes
    them; both may call from their own thread (tqdm serialises its writes)."""

    bar: Any
    images: int
    enabled: bool
    done: int = 0
    cached: dict[str, list[int]] = field(default_factory=dict)  # --cache value: [computed, denoiser calls]

    @classmethod
    def start(cls, total_steps: int, images: int, enabled: bool) -> Progress:
        """With `enabled` False nothing is printed at all: a library call is silent unless asked. The bar is drawn
        only on a terminal; elsewhere (a pipe, a log file) each written file is one line and nothing else is."""
        from tqdm import tqdm

        drawn = enabled and sys.stderr.isatty()
        return cls(tqdm(total=total_steps, unit="step", desc=f"0/{images} images", disable=not drawn,
                        file=sys.stderr, dynamic_ncols=True, leave=False), images, enabled)

    def on_step_end(self, _pipeline: Any, _step: int, _timestep: Any, _outputs: dict[str, Any]) -> dict[str, Any]:
        """diffusers' callback_on_step_end: count the step, change nothing."""
        self.bar.update(1)
        return {}

    def on_step(self, _step: int, _timestep: Any, _latents: Any) -> None:
        """The older callback (callback_steps=1) of the pipelines that take no callback_on_step_end."""
        self.bar.update(1)

    def add_steps(self, steps: int) -> None:
        """Steps known only once an input is open (img2img runs steps x strength, animations per frame)."""
        self.bar.total += steps
        self.bar.refresh()

    def add_images(self, count: int) -> None:
        self.images += count

    def image_done(self, path: Path) -> None:
        self.done += 1
        self.bar.set_description(f"{self.done}/{self.images} images")
        if self.enabled:  # above the bar, which is drawn again below; a plain line where no bar is drawn
            self.bar.write(f"dgenerate: wrote {path}", file=sys.stderr)

    def add_cached(self, cache: str | None, computed: int, calls: int) -> None:
        counts = self.cached.setdefault(cache or "", [0, 0])
        counts[0] += computed
        counts[1] += calls

    def close(self) -> None:
        """The bar gone, and what each --cache setting skipped (on this machine; Ray workers keep their own)."""
        self.bar.close()
        if self.enabled:
            for cache, (computed, calls) in self.cached.items():
                print(f"dgenerate: --cache {cache}: {calls - computed} of {calls} denoiser calls took the cached part "
                      "from an earlier step", file=sys.stderr)
