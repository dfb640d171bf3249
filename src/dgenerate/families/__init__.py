"""The model families dgenerate runs, one module each; nothing outside this package decides by a family's name.

A family module (sd.py, sdxl.py, ...) declares one `Family`: how its folders, checkpoints and transformer files are
recognised, its pipeline classes per mode, its components, sizes, scheduler kind, text encoders, the options it
supports and the few behaviours of its own (call arguments, the A1111 guidance text). Every module of this package
whose name does not start with "_" is a family: adding a family is adding its module. Importing this package imports
no torch.
"""

from __future__ import annotations

from dgenerate.families._family import (
    AUDIO,
    DEEPCACHE,
    FIRST_BLOCK_CACHE,
    FLOW_SHIFT,
    IMAGE_GUIDANCE,
    LOW_NOISE_GUIDANCE,
    LTX_DECODE,
    MODES,
    NO_T5,
    REFERENCES,
    REFINER,
    TAYLORSEER,
    TRANSFORMER,
    TRUE_GUIDANCE,
    UPSCALER_NOISE,
    VARIATION_SEEDS,
    VIDEO,
    Checkpoint,
    Family,
    Mode,
    Pipeline,
    Variant,
    article,
    flow_steps,
)
from dgenerate.families._family import MAX_SEQUENCE_LENGTH as SEQUENCE_LENGTH_OPTION
from dgenerate.families._options import check_options, default_sequence_lengths, supporting
from dgenerate.families._registry import (
    FAMILIES,
    MAX_SEQUENCE_LENGTH,
    MODEL_TYPES,
    architecture_of,
    check_given_type,
    checkpoint,
    checkpoints,
    family,
    family_of_index,
    flow_matching_families,
    listed,
    model_types_of,
    picture_size,
    transformer_weights_of,
)

__all__ = [
    "AUDIO",
    "DEEPCACHE",
    "FAMILIES",
    "FIRST_BLOCK_CACHE",
    "FLOW_SHIFT",
    "IMAGE_GUIDANCE",
    "LOW_NOISE_GUIDANCE",
    "LTX_DECODE",
    "MAX_SEQUENCE_LENGTH",
    "MODEL_TYPES",
    "MODES",
    "NO_T5",
    "REFERENCES",
    "REFINER",
    "SEQUENCE_LENGTH_OPTION",
    "TAYLORSEER",
    "TRANSFORMER",
    "TRUE_GUIDANCE",
    "UPSCALER_NOISE",
    "VARIATION_SEEDS",
    "VIDEO",
    "Checkpoint",
    "Family",
    "Mode",
    "Pipeline",
    "Variant",
    "architecture_of",
    "article",
    "check_given_type",
    "check_options",
    "checkpoint",
    "checkpoints",
    "default_sequence_lengths",
    "family",
    "family_of_index",
    "flow_matching_families",
    "flow_steps",
    "listed",
    "model_types_of",
    "picture_size",
    "supporting",
    "transformer_weights_of",
]
