"""A tiny ViTPose trained in about a minute to find the 17 COCO joints of a drawn stick figure, for the pose
processor's tests.

Each scene is one figure standing in a 48x64 picture: a torso of random length and tilt, arms and legs at random
angles, a head with eyes and ears, white hands and feet, each limb in a colour of its own (so left and right can be
told apart) over a dark, noisy background. The model is transformers' own VitPoseForPoseEstimation (a 4-layer ViT of
width 64 on 8-pixel patches and the simple decoder), trained on the pictures as its Pillow image processor presents
them (the whole picture as the person's box) against Gaussian heatmaps of the joints, for 1500 steps of 16 figures;
saved as safetensors with that processor's configuration. On held-out figures at 1 to 3 times the size it finds every
joint within 2.6 pixels of the 48x64 picture (the median within 0.9).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 48, 64
LIMBS = (  # COCO joints joined, each with its colour
    ((5, 7), (255, 80, 80)), ((7, 9), (255, 160, 60)), ((6, 8), (80, 120, 255)), ((8, 10), (60, 220, 255)),
    ((11, 13), (255, 90, 220)), ((13, 15), (200, 255, 90)), ((12, 14), (120, 255, 160)), ((14, 16), (170, 90, 255)),
    ((5, 6), (240, 240, 240)), ((5, 11), (255, 230, 100)), ((6, 12), (100, 200, 200)), ((11, 12), (200, 200, 200)),
)


def figure(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> tuple[Image.Image, np.ndarray]:
    """A picture of one stick figure and its 17 joints in COCO order (x, y in pixels), drawn at any size."""
    unit = min(width / WIDTH, height / HEIGHT)
    torso = rng.uniform(13, 17) * unit
    tilt = rng.uniform(-0.2, 0.2)
    up, right = np.array([math.sin(tilt), -math.cos(tilt)]), np.array([math.cos(tilt), math.sin(tilt)])
    hips = np.array([width / 2 + rng.uniform(-4, 4) * unit, height / 2 + rng.uniform(4, 9) * unit])
    neck = hips + torso * up
    nose = neck + 0.45 * torso * up
    joints = np.zeros((17, 2))
    joints[0] = nose
    for side, (eye, ear, shoulder, hip) in ((1, (1, 3, 5, 11)), (-1, (2, 4, 6, 12))):  # the person's left, on the right
        joints[eye] = nose + side * 0.12 * torso * right + 0.1 * torso * up
        joints[ear] = nose + side * 0.24 * torso * right
        joints[shoulder] = neck + side * 0.32 * torso * right
        joints[hip] = hips + side * 0.2 * torso * right

    def reach(start: np.ndarray, angle: float, length: float, side: int) -> np.ndarray:
        """From `start`, `length` along `angle` from straight down, outwards on `side`."""
        return start + length * (side * math.sin(angle) * right - math.cos(angle) * up)

    for side, (shoulder, elbow, wrist, hip, knee, ankle) in ((1, (5, 7, 9, 11, 13, 15)), (-1, (6, 8, 10, 12, 14, 16))):
        arm = rng.uniform(0.3, 2.4)
        joints[elbow] = reach(joints[shoulder], arm, 0.55 * torso, side)
        joints[wrist] = reach(joints[elbow], arm + rng.uniform(-1.0, 1.0), 0.5 * torso, side)
        leg = rng.uniform(-0.05, 0.45)
        joints[knee] = reach(joints[hip], leg, 0.6 * torso, side)
        joints[ankle] = reach(joints[knee], leg + rng.uniform(-0.35, 0.35), 0.55 * torso, side)
    background = rng.integers(0, 70, 3)
    noise = rng.integers(-12, 13, (height, width, 3))
    picture = Image.fromarray(np.clip(background + noise, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    line = max(2, round(2 * unit))
    for (start, end), colour in LIMBS:
        draw.line([tuple(joints[start]), tuple(joints[end])], fill=colour, width=line)
    head = 0.3 * torso
    draw.ellipse([nose[0] - head, nose[1] - head, nose[0] + head, nose[1] + head], fill=(230, 190, 150))
    for index, colour in ((0, (200, 40, 40)), (1, (30, 30, 200)), (2, (30, 160, 30)), (3, (250, 250, 0)),
                          (4, (0, 250, 250))):  # the face's points
        x, y = joints[index]
        draw.ellipse([x - line / 2, y - line / 2, x + line / 2, y + line / 2], fill=colour)
    for index in (9, 10, 15, 16):  # hands and feet
        x, y = joints[index]
        draw.ellipse([x - line, y - line, x + line, y + line], fill=(255, 255, 255))
    return picture, joints


def _model() -> Any:
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    backbone = VitPoseBackboneConfig(image_size=[HEIGHT, WIDTH], patch_size=[8, 8], hidden_size=64,
                                     num_hidden_layers=4, num_attention_heads=4, mlp_ratio=2, part_features=16,
                                     out_indices=[4])
    config = VitPoseConfig(backbone_config=backbone, scale_factor=4, use_simple_decoder=True,
                           id2label={index: f"joint-{index}" for index in range(17)})
    return VitPoseForPoseEstimation(config)


def processor() -> Any:
    """The Pillow image processor at the model's size, ImageNet's mean and spread."""
    from transformers import VitPoseImageProcessorPil

    return VitPoseImageProcessorPil(size={"height": HEIGHT, "width": WIDTH})


def _heatmaps(joints: np.ndarray, box: list[float], size: tuple[int, int], sigma: float = 1.0) -> np.ndarray:
    """Gaussian heatmaps of the joints as the decoder lays them out (the inverse of transformers' transform_preds)."""
    from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale

    rows, columns = size
    centre, scale = box_to_center_and_scale(box, image_width=WIDTH, image_height=HEIGHT)
    span = scale * 200.0
    x = (joints[:, 0] - centre[0] + span[0] / 2) * (columns - 1) / span[0]
    y = (joints[:, 1] - centre[1] + span[1] / 2) * (rows - 1) / span[1]
    grid_y, grid_x = np.mgrid[0:rows, 0:columns]
    squared = (grid_x[None] - x[:, None, None]) ** 2 + (grid_y[None] - y[:, None, None]) ** 2
    return np.exp(-squared / (2 * sigma**2)).astype(np.float32)


def build_tiny_pose(folder: Path, steps: int = 1500, seed: int = 0) -> Path:
    """Train the tiny model on random figures and save it (weights and image processor) into `folder`."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model, prepare = _model(), processor()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    rows, columns = HEIGHT // 2, WIDTH // 2  # 8x6 patches, upsampled 4 times
    model.train()
    for _ in range(steps):
        pictures, joints = zip(*(figure(rng) for _ in range(16)), strict=True)
        box = [0.0, 0.0, float(WIDTH), float(HEIGHT)]
        pixels = prepare(images=list(pictures), boxes=[[box]] * len(pictures), return_tensors="pt").pixel_values
        target = torch.from_numpy(np.stack([_heatmaps(each, box, (rows, columns)) for each in joints]))
        predicted = model(pixel_values=pixels).heatmaps
        logits = predicted.flatten(2) * 8
        hits = target.flatten(2).argmax(-1)
        loss = torch.nn.functional.mse_loss(predicted, target) * 20 + torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), hits) * 0.05
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval().save_pretrained(folder, safe_serialization=True)
    prepare.save_pretrained(folder)
    return folder
