"""Image processors: small, deterministic picture-to-picture steps written `name;key=value;...`, applied in order.

Parsing is pure (no Pillow, numpy or OpenCV imported), so a wrong processor is an argument error before any work.
Applying one is deterministic: the same picture and settings give the same bytes. `canny` needs OpenCV (the
`processors` extra: `pip install "dgenerate[processors]"`), `upscale` spandrel, `depth` and `pose` a transformers
model (dgenerate.estimation; pose draws with OpenCV too); the others need only Pillow and numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dgenerate.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image

RESAMPLING = ("lanczos", "bicubic", "bilinear", "nearest")


@dataclass(frozen=True)
class ProcessorSpec:
    """One processor and its settings, every one written out (defaults filled in), so the text records it whole."""

    name: str
    settings: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return ";".join([self.name, *(f"{key}={value}" for key, value in self.settings)])

    def get(self, key: str) -> str:
        return dict(self.settings)[key]


@dataclass(frozen=True)
class _Kind:
    apply: Callable[[Image.Image, ProcessorSpec], Image.Image]
    defaults: Mapping[str, str]
    check: Callable[[str, str], None]  # (key, value) -> raises ValueError with the fix
    about: str


def parse_processor(text: str, option: str) -> ProcessorSpec:
    """'canny;low=50;high=150' -> ProcessorSpec with every setting of canny, the missing ones at their defaults."""
    name, *parts = [part.strip() for part in text.split(";")]
    kind = KINDS.get(name.lower())
    if kind is None:
        raise UsageError(f"{option} {text!r}: {name!r} is not a processor; use one of {', '.join(KINDS)}")
    return ProcessorSpec(name.lower(), tuple(settings(parts, kind.defaults, kind.check, f"{option} {text!r}",
                                                      name).items()))


def settings(parts: list[str], defaults: Mapping[str, str], check: Callable[[str, str], None], given_as: str,
             name: str) -> dict[str, str]:
    """`key=value` parts of a 'name;key=value' option (a processor's, a --cache method's): every setting of `defaults`
    in its order, the given ones checked; `given_as` ("--cache 'x;y=1'") starts each error line."""
    given: dict[str, str] = {}
    for part in parts:
        key, equals, value = part.partition("=")
        key = key.strip().lower()
        if not equals or key not in defaults:
            known = ", ".join(f"{k}=" for k in defaults) or "no settings"
            raise UsageError(f"{given_as}: {part!r} is not a setting of {name}; it takes {known}")
        given[key] = value.strip()
    chosen = {**defaults, **given}
    for key, value in chosen.items():
        try:
            check(key, value)
        except ValueError as error:
            raise UsageError(f"{given_as}: {key}={value} {error}") from None
    return chosen


def apply_processors(image: Image.Image, processors: tuple[ProcessorSpec, ...]) -> Image.Image:
    """`image` through each processor in order."""
    for spec in processors:
        image = KINDS[spec.name].apply(image, spec)
    return image


def processed_size(size: tuple[int, int], processors: tuple[ProcessorSpec, ...]) -> tuple[int, int] | None:
    """The size a picture of `size` has after `processors`, known without the picture; None after an upscale (its
    factor is the model's, known once its weights are read)."""
    for spec in processors:
        if spec.name == "upscale":
            return None
        if spec.name in ("resize", "letterbox"):
            size = _size(spec.get("size"))
        elif spec.name == "crop":
            left, top, right, bottom = _corners(spec.get("box"))
            size = (right - left, bottom - top)
    return size


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not width.isdigit() or not (height or width).isdigit() or int(width) < 1 or int(height or width) < 1:
        raise ValueError("is not a size: write WIDTHxHEIGHT, e.g. 512x768")
    return int(width), int(height or width)


def _number(low: float, high: float, whole: bool = False) -> Callable[[str], float]:
    def read(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise ValueError(f"is not {'a whole number' if whole else 'a number'}") from None
        if not low <= value <= high:
            raise ValueError(f"is out of range: use {low:g} to {high:g}")
        return value

    return read


def _checks(**readers: Callable[[str], Any]) -> Callable[[str, str], None]:
    def check(key: str, value: str) -> None:
        readers[key](value)

    return check


def _choice(*names: str) -> Callable[[str], str]:
    def read(text: str) -> str:
        if text.lower() not in names:
            raise ValueError(f"is not one of {', '.join(names)}")
        return text.lower()

    return read


def _resampling(name: str) -> Any:
    from PIL import Image

    return {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
            "bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}[name]


def _resize(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    return image.resize(_size(spec.get("size")), _resampling(spec.get("resample")))


def _crop(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    """A box 'left,top,right,bottom' cut out; the parts of it outside the picture are black."""
    return image.crop(_corners(spec.get("box")))


def _corners(box: str) -> tuple[int, int, int, int]:
    """'left,top,right,bottom' (checked by _box) as numbers."""
    left, top, right, bottom = (int(value) for value in box.split(","))
    return left, top, right, bottom


def _box(text: str) -> None:
    values = text.split(",")
    if len(values) != 4 or not all(value.strip().lstrip("-").isdigit() for value in values):
        raise ValueError("is not a box: write left,top,right,bottom in pixels, e.g. 0,0,256,256")
    left, top, right, bottom = (int(value) for value in values)
    if right <= left or bottom <= top:
        raise ValueError("is empty: right must exceed left and bottom top")


def _letterbox(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    """Scaled to fit inside the size, aspect ratio kept, centred on a plain colour."""
    from PIL import Image as PilImage
    from PIL import ImageColor

    width, height = _size(spec.get("size"))
    scale = min(width / image.width, height / image.height)
    fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                          _resampling(spec.get("resample")))
    canvas = PilImage.new(image.mode, (width, height), ImageColor.getcolor(spec.get("color"), image.mode))
    canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    return canvas


def _colour(text: str) -> None:
    from PIL import ImageColor

    try:
        ImageColor.getrgb(text)
    except ValueError:
        raise ValueError("is not a colour: use a name (black) or #rrggbb") from None


def _invert(image: Image.Image, _spec: ProcessorSpec) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.invert(image.convert("RGB")) if image.mode not in ("L", "RGB") else ImageOps.invert(image)


def _grayscale(image: Image.Image, _spec: ProcessorSpec) -> Image.Image:
    return image.convert("L").convert(image.mode if image.mode in ("RGB", "L") else "RGB")


def _posterize(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.posterize(image.convert("RGB") if image.mode not in ("L", "RGB") else image,
                              int(spec.get("bits")))


def _mirror(image: Image.Image, _spec: ProcessorSpec) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.mirror(image)


def _flip(image: Image.Image, _spec: ProcessorSpec) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.flip(image)


def _gaussian_blur(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(float(spec.get("radius"))))


def _dilate(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    """Light areas grown by `size` pixels each way (a mask's painted area made larger)."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.MaxFilter(2 * int(spec.get("size")) + 1))


def _canny(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    """OpenCV's Canny edges (white on black, as ControlNet's canny models take them), from the grey picture."""
    import numpy as np
    from PIL import Image as PilImage

    try:
        import cv2
    except ImportError:
        raise UsageError('the canny processor needs OpenCV, which is not installed: pip install '
                         '"dgenerate[processors]"') from None
    grey = np.asarray(image.convert("L"))
    edges = cv2.Canny(grey, int(spec.get("low")), int(spec.get("high")))
    return PilImage.fromarray(edges).convert("RGB")


def _upscale(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    from dgenerate.upscale import upscale

    return upscale(image, spec.get("model"), int(spec.get("tile")), int(spec.get("overlap")), spec.get("dtype"),
                   spec.get("device"))


def _depth(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    from dgenerate.estimation import depth_map

    return depth_map(image, spec.get("model"), spec.get("device"))


def _pose(image: Image.Image, spec: ProcessorSpec) -> Image.Image:
    from dgenerate.estimation import pose_map

    box = spec.get("box")
    return pose_map(image, spec.get("model"), spec.get("device"), None if box == "whole" else _corners(box),
                    float(spec.get("threshold")))


def _model_folder(processor: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        from dgenerate.estimation import check_model_folder

        check_model_folder(text, processor)

    return check


def _person_box(text: str) -> None:
    if text != "whole":
        _box(text)


def _model_file(text: str) -> None:
    from pathlib import Path

    if not text:
        raise ValueError("is missing: give the model file, upscale;model=4x-model.safetensors")
    if not Path(text).expanduser().is_file():
        raise ValueError("is not a file: give the upscaling model's weights file")


def _device(text: str) -> None:
    if text != "cpu" and text != "cuda" and not (text.startswith("cuda:") and text[5:].isdigit()):
        raise ValueError("is not a device: use cpu, cuda or cuda:N")


def _canny_check(_key: str, value: str) -> None:
    _number(0, 10_000, whole=True)(value)


_RESIZE_CHECKS = _checks(size=_size, resample=_choice(*RESAMPLING))

KINDS: dict[str, _Kind] = {
    "resize": _Kind(_resize, {"size": "512x512", "resample": "lanczos"}, _RESIZE_CHECKS,
                    "to WIDTHxHEIGHT exactly"),
    "crop": _Kind(_crop, {"box": "0,0,512,512"}, _checks(box=_box), "a box left,top,right,bottom"),
    "letterbox": _Kind(_letterbox, {"size": "512x512", "color": "black", "resample": "lanczos"},
                       _checks(size=_size, color=_colour, resample=_choice(*RESAMPLING)),
                       "fitted inside WIDTHxHEIGHT on a plain colour"),
    "invert": _Kind(_invert, {}, _checks(), "colours inverted"),
    "grayscale": _Kind(_grayscale, {}, _checks(), "grey"),
    "posterize": _Kind(_posterize, {"bits": "3"}, _checks(bits=_number(1, 8, whole=True)),
                       "each channel kept to this many bits"),
    "mirror": _Kind(_mirror, {}, _checks(), "left and right swapped"),
    "flip": _Kind(_flip, {}, _checks(), "top and bottom swapped"),
    "gaussian-blur": _Kind(_gaussian_blur, {"radius": "2"}, _checks(radius=_number(0, 1000)),
                           "blurred by this radius in pixels"),
    "dilate": _Kind(_dilate, {"size": "4"}, _checks(size=_number(1, 256, whole=True)),
                    "light areas grown by this many pixels (masks)"),
    "canny": _Kind(_canny, {"low": "100", "high": "200"}, _canny_check, "OpenCV's Canny edges"),
    "upscale": _Kind(_upscale, {"model": "", "tile": "512", "overlap": "32", "dtype": "float32", "device": "cpu"},
                     _checks(model=_model_file, tile=_number(0, 65536, whole=True),
                             overlap=_number(0, 4096, whole=True), dtype=_choice("float32", "float16", "bfloat16"),
                             device=_device),
                     "by a super-resolution model file (spandrel), in tiles"),
    "depth": _Kind(_depth, {"model": "", "device": "cpu"}, _checks(model=_model_folder("depth"), device=_device),
                   "a depth map (nearer is brighter) by a transformers depth model folder (Depth Anything, DPT)"),
    "pose": _Kind(_pose, {"model": "", "box": "whole", "threshold": "0.3", "device": "cpu"},
                  _checks(model=_model_folder("pose"), box=_person_box, threshold=_number(0, 1), device=_device),
                  "OpenPose's body skeleton of the person found by a ViTPose model folder"),
}
