"""Processors that run a transformers estimation model from a local folder (its config.json, model.safetensors and
preprocessor_config.json), as ControlNet's guide images are made from a picture:

- `depth`: DPT or Depth Anything. Nearer is brighter, grey, the picture's size. These models predict relative inverse
  depth; the map is stretched to the full 0-255 range per picture (the farthest point black, the nearest white).
- `pose`: ViTPose (or ViTPose+). It finds the 17 COCO joints of the person in a box (the whole picture unless one is
  given) and draws them as OpenPose's 18-point body skeleton, in OpenPose's colours on black, as ControlNet's openpose
  models take it (the neck is the shoulders' midpoint).

Weights are read from safetensors only; a folder without them is one line. Both run with transformers' Pillow image
processors, so they need no torchvision.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

from PIL import Image

from dgenerate.errors import UsageError

# OpenPose's body: its 18 points as COCO joints (None: the neck, between the shoulders), the limbs it draws (pairs of
# those points, 1-based as OpenPose writes them) and a colour per point and limb (controlnet_aux's draw_bodypose).
_OPENPOSE_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
_LIMBS = ((2, 3), (2, 6), (3, 4), (4, 5), (6, 7), (7, 8), (2, 9), (9, 10), (10, 11), (2, 12), (12, 13), (13, 14),
          (2, 1), (1, 15), (15, 17), (1, 16), (16, 18))
_COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
            (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
            (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
_MODELS = {"depth": ("AutoModelForDepthEstimation", "DPTImageProcessorPil", "a depth model"),
           "pose": ("VitPoseForPoseEstimation", "VitPoseImageProcessorPil", "a ViTPose model")}


def check_model_folder(text: str, processor: str) -> None:
    """A folder with a config.json and safetensors weights (raises ValueError with the fix: a processor setting)."""
    folder = Path(text).expanduser()
    what = _MODELS[processor][2]
    if not text:
        raise ValueError(f"is missing: give {what}'s folder, {processor};model=./{processor}-model")
    if not (folder / "config.json").is_file():
        raise ValueError(f"is not a model folder (no config.json): give {what}'s folder as transformers saves it "
                         "(Depth Anything, DPT, ViTPose)")
    if not any(folder.glob("*.safetensors")):
        raise ValueError("holds no .safetensors weights (pickled weights are not read): convert them, or give the "
                         "model's safetensors release")


@functools.lru_cache(maxsize=2)
def _load(folder: str, device: str, processor: str) -> tuple[Any, Any]:
    """The model (eval mode, on `device`) and its image processor (the Pillow one: no torchvision)."""
    import torch
    import transformers

    from dgenerate.models.quiet import quiet_libraries

    quiet_libraries()
    model_class, processor_class, what = _MODELS[processor]
    try:
        model = getattr(transformers, model_class).from_pretrained(folder, local_files_only=True,
                                                                   use_safetensors=True)
        prepare = getattr(transformers, processor_class).from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{processor};model={folder} could not be loaded as {what}: {reason}") from error
    if processor == "pose" and model.config.model_type != "vitpose":
        raise UsageError(f"pose;model={folder} is a {model.config.model_type} model, not ViTPose: give a ViTPose "
                         "folder")
    return model.to(torch.device(device)).eval(), prepare


def depth_map(image: Image.Image, folder: str, device: str) -> Image.Image:
    """`image`'s depth map at its size, nearest white."""
    import torch

    model, prepare = _load(str(Path(folder).expanduser()), device, "depth")
    inputs = prepare(images=image.convert("RGB"), return_tensors="pt").to(model.device)
    with torch.inference_mode():
        predicted = model(**inputs).predicted_depth.float()
    resized = torch.nn.functional.interpolate(predicted[:, None], size=(image.height, image.width), mode="bicubic",
                                              align_corners=False)[0, 0].cpu()
    low, high = resized.min(), resized.max()
    scaled = (resized - low) / (high - low) if high > low else torch.zeros_like(resized)
    grey = (scaled * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(grey, mode="L").convert("RGB")


def pose_joints(image: Image.Image, folder: str, device: str,
                box: tuple[int, int, int, int] | None) -> tuple[list[tuple[float, float]], list[float]]:
    """The 17 COCO joints (x, y in pixels) ViTPose finds in `box` (left, top, right, bottom; None: the whole picture)
    of `image`, and their scores."""
    import torch

    model, prepare = _load(str(Path(folder).expanduser()), device, "pose")
    left, top, right, bottom = box or (0, 0, image.width, image.height)
    boxes = [[[float(left), float(top), float(right - left), float(bottom - top)]]]  # COCO: x, y, width, height
    inputs = prepare(images=image.convert("RGB"), boxes=boxes, return_tensors="pt").to(model.device)
    experts = getattr(model.config.backbone_config, "num_experts", 1)
    chosen = {"dataset_index": torch.zeros(1, dtype=torch.long, device=model.device)} if experts > 1 else {}
    with torch.inference_mode():
        outputs = model(**inputs, **chosen)
    outputs.heatmaps = outputs.heatmaps.float().cpu()
    found = prepare.post_process_pose_estimation(outputs, boxes=boxes)[0][0]
    return ([(float(x), float(y)) for x, y in found["keypoints"].tolist()],
            [float(score) for score in found["scores"].reshape(-1).tolist()])


def pose_map(image: Image.Image, folder: str, device: str, box: tuple[int, int, int, int] | None,
             threshold: float) -> Image.Image:
    """OpenPose's body skeleton of the joints found in `image` scoring above `threshold`, on black, at its size."""
    joints, scores = pose_joints(image, folder, device, box)
    points: list[tuple[float, float] | None] = []
    for coco in _OPENPOSE_FROM_COCO:
        if coco is None:  # the neck
            both = [joints[index] for index in (5, 6) if scores[index] > threshold]
            points.append(((both[0][0] + both[1][0]) / 2, (both[0][1] + both[1][1]) / 2) if len(both) == 2 else None)
        else:
            points.append(joints[coco] if scores[coco] > threshold else None)
    return draw_body(points, image.size)


def draw_body(points: list[tuple[float, float] | None], size: tuple[int, int]) -> Image.Image:
    """OpenPose's 18 body points (None where not found) drawn as controlnet_aux's draw_bodypose draws them: a filled
    circle of radius 4 per point, then each limb an ellipse 4 pixels thick blended in at 60%."""
    import numpy as np

    try:
        import cv2
    except ImportError:
        raise UsageError('the pose processor needs OpenCV to draw, which is not installed: pip install '
                         '"dgenerate[processors]"') from None
    canvas: Any = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    for point, colour in zip(points, _COLOURS, strict=True):
        if point is not None:
            cv2.circle(canvas, (int(point[0]), int(point[1])), 4, colour, thickness=-1)
    for (first, second), colour in zip(_LIMBS, _COLOURS, strict=False):
        start, end = points[first - 1], points[second - 1]
        if start is None or end is None:
            continue
        limb = canvas.copy()
        middle = (int((start[0] + end[0]) / 2), int((start[1] + end[1]) / 2))
        length = math.hypot(start[0] - end[0], start[1] - end[1])
        angle = math.degrees(math.atan2(start[1] - end[1], start[0] - end[0]))
        polygon = cv2.ellipse2Poly(middle, (int(length / 2), 4), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(limb, np.asarray(polygon), colour)
        canvas = cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)
    return Image.fromarray(canvas)
