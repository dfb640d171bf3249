"""Reading and writing images, masks, videos and animations; pure I/O, no diffusers.

    open_media(path, frame_start, frame_end) -> FrameSource    RGB frames one at a time, .info: MediaInfo
    open_seed(image, mask, frame_start, frame_end, controls) -> SeedSource (image, mask "L", controls) per frame, .info
    fetch(url, cache_dir) -> Path                              an http(s) seed downloaded once into cache_dir
    fit_size(src_w, src_h, requested, multiple) -> (w, h)      the README's output size rule
    AnimationWriter(path, fmt, fps, size, overwrite=False)     mp4 / gif / webp, encoded as frames arrive
    write_png(path, image, text_chunks, overwrite=False)       atomic PNG with tEXt / iTXt metadata

Frame rates are ``fractions.Fraction`` end to end, so 30000/1001 stays 30000/1001. Errors are ``MediaError``
(inputs) and ``OutputError`` (outputs), one line each. Importing this package imports neither PyAV nor Pillow.
"""

from __future__ import annotations

from dgenerate.media.fetch import fetch, is_url
from dgenerate.media.info import MediaInfo
from dgenerate.media.resize import fit_size, resize_image, round_to_multiple
from dgenerate.media.seeds import SeedSource, open_seed
from dgenerate.media.sources import FrameSource, open_media, to_rgb
from dgenerate.media.writers import ANIMATION_FORMATS, AnimationFormat, AnimationWriter, encode_png, write_png

__all__ = [
    "ANIMATION_FORMATS",
    "AnimationFormat",
    "AnimationWriter",
    "FrameSource",
    "MediaInfo",
    "SeedSource",
    "encode_png",
    "fetch",
    "fit_size",
    "is_url",
    "open_media",
    "open_seed",
    "resize_image",
    "round_to_multiple",
    "to_rgb",
    "write_png",
]
