"""Write the bundled configurations of the public SD 1.x, InstructPix2Pix, SD 2.x, SD x4 upscaler, SDXL base and SDXL
refiner architectures.

Run once by a maintainer (`python -m dgenerate.models.configs.make_configs`); the JSON files it writes ship with the
package so that a single-file checkpoint loads without asking the Hugging Face hub for a configuration. Models are
built on the meta device, so nothing is allocated. Tokenizers are not written: the loader builds them from the
built-in CLIP vocabulary and the tokenizer_config.json written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

_SD_VAE = dict(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
               up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2, norm_num_groups=32)
_SD_UNET = dict(block_out_channels=[320, 640, 1280, 1280], layers_per_block=2,
                down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
_CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
               hidden_act="quick_gelu", projection_dim=768)
_CLIP_BIG_G = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                   hidden_act="gelu", projection_dim=1280)
_OPEN_CLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                    hidden_act="gelu", projection_dim=512)
_BETAS = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
              steps_offset=1, set_alpha_to_one=False, skip_prk_steps=True, clip_sample=False)
_XL_UNET = dict(use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
                addition_embed_type_num_heads=64, layers_per_block=2, sample_size=128)

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "sd1": {
        "pipeline": "StableDiffusionPipeline",
        "unet": dict(_SD_UNET, cross_attention_dim=768, attention_head_dim=8, sample_size=64),
        "vae": dict(_SD_VAE, sample_size=512, scaling_factor=0.18215),
        "text_encoder": ("CLIPTextModel", _CLIP_L),
        "tokenizer": "<|endoftext|>",
        "scheduler": ("PNDMScheduler", _BETAS),
        "extra": {"safety_checker": [None, None], "feature_extractor": [None, None], "image_encoder": [None, None],
                  "requires_safety_checker": False},
    },
    "pix2pix": {  # timbrooks/instruct-pix2pix: SD 1.5 reading the image's latents beside the noise
        "pipeline": "StableDiffusionInstructPix2PixPipeline",
        "unet": dict(_SD_UNET, cross_attention_dim=768, attention_head_dim=8, sample_size=64, in_channels=8),
        "vae": dict(_SD_VAE, sample_size=512, scaling_factor=0.18215),
        "text_encoder": ("CLIPTextModel", _CLIP_L),
        "tokenizer": "<|endoftext|>",
        "scheduler": ("EulerAncestralDiscreteScheduler", dict(_BETAS)),
        "extra": {"safety_checker": [None, None], "feature_extractor": [None, None], "image_encoder": [None, None],
                  "requires_safety_checker": False},
    },
    "sd2": {
        "pipeline": "StableDiffusionPipeline",
        "unet": dict(_SD_UNET, cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], sample_size=96,
                     use_linear_projection=True, upcast_attention=True),
        "vae": dict(_SD_VAE, sample_size=768, scaling_factor=0.18215),
        "text_encoder": ("CLIPTextModel", _OPEN_CLIP_H),
        "tokenizer": "!",
        "scheduler": ("DDIMScheduler", dict(_BETAS, prediction_type="v_prediction")),
        "extra": {"safety_checker": [None, None], "feature_extractor": [None, None], "image_encoder": [None, None],
                  "requires_safety_checker": False},
    },
    "upscaler-x4": {  # stabilityai/stable-diffusion-x4-upscaler: SD 2.x's text encoder, the image's 3 channels
        # beside the latents' 4, noise-level classes, and a VAE of scale factor 4
        "pipeline": "StableDiffusionUpscalePipeline",
        "unet": dict(block_out_channels=[256, 512, 512, 1024], layers_per_block=2, in_channels=7, out_channels=4,
                     down_block_types=["DownBlock2D"] + ["CrossAttnDownBlock2D"] * 3,
                     up_block_types=["CrossAttnUpBlock2D"] * 3 + ["UpBlock2D"], attention_head_dim=8,
                     cross_attention_dim=1024, num_class_embeds=1000, only_cross_attention=[True, True, True, False],
                     use_linear_projection=True, sample_size=128),
        "vae": dict(block_out_channels=[128, 256, 512], down_block_types=["DownEncoderBlock2D"] * 3,
                    up_block_types=["UpDecoderBlock2D"] * 3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
                    sample_size=256, scaling_factor=0.08333),
        "text_encoder": ("CLIPTextModel", _OPEN_CLIP_H),
        "tokenizer": "!",
        "scheduler": ("DDIMScheduler", dict(beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear",
                                            num_train_timesteps=1000, prediction_type="v_prediction", steps_offset=1,
                                            set_alpha_to_one=False, clip_sample=False)),
        "low_res_scheduler": ("DDPMScheduler", dict(beta_start=0.0001, beta_end=0.02, beta_schedule="scaled_linear",
                                                    num_train_timesteps=1000)),
        "extra": {"max_noise_level": 350, "safety_checker": [None, None], "feature_extractor": [None, None],
                  "watermarker": [None, None]},
    },
    "sdxl-base": {
        "pipeline": "StableDiffusionXLPipeline",
        "unet": dict(_XL_UNET, block_out_channels=[320, 640, 1280], attention_head_dim=[5, 10, 20],
                     cross_attention_dim=2048, projection_class_embeddings_input_dim=2816,
                     transformer_layers_per_block=[1, 2, 10],
                     down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                     up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]),
        "vae": dict(_SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True),
        "text_encoder": ("CLIPTextModel", _CLIP_L),
        "tokenizer": "<|endoftext|>",
        "text_encoder_2": ("CLIPTextModelWithProjection", _CLIP_BIG_G),
        "tokenizer_2": "!",
        "scheduler": ("EulerDiscreteScheduler", dict(_BETAS, timestep_spacing="leading", interpolation_type="linear")),
        "extra": {"force_zeros_for_empty_prompt": True, "feature_extractor": [None, None],
                  "image_encoder": [None, None]},
    },
    "sdxl-refiner": {
        "pipeline": "StableDiffusionXLImg2ImgPipeline",
        "unet": dict(_XL_UNET, block_out_channels=[384, 768, 1536, 1536], attention_head_dim=[6, 12, 24, 24],
                     cross_attention_dim=1280, projection_class_embeddings_input_dim=2560,
                     transformer_layers_per_block=4,
                     down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                     up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]),
        "vae": dict(_SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True),
        "text_encoder_2": ("CLIPTextModelWithProjection", _CLIP_BIG_G),
        "tokenizer_2": "!",
        "scheduler": ("EulerDiscreteScheduler", dict(_BETAS, timestep_spacing="leading", interpolation_type="linear")),
        "extra": {"requires_aesthetics_score": True, "force_zeros_for_empty_prompt": False,
                  "text_encoder": [None, None], "tokenizer": [None, None], "feature_extractor": [None, None],
                  "image_encoder": [None, None]},
    },
}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _diffusers_config(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The full configuration diffusers saves for `class_name(**config)`, defaults included."""
    import diffusers
    from accelerate import init_empty_weights

    cls = getattr(diffusers, class_name)
    with init_empty_weights():
        model = cls(**config)
    return dict(model.config, _class_name=class_name, _diffusers_version=diffusers.__version__)


def _clip_config(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    from transformers import CLIPTextConfig

    clip = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=2,
                          pad_token_id=1, **config)
    data = clip.to_dict()
    data["architectures"] = [class_name]
    return dict(data)


def _tokenizer_config(pad_token: str) -> dict[str, Any]:
    return {"tokenizer_class": "CLIPTokenizer", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>", "pad_token": pad_token, "do_lower_case": True, "model_max_length": 77}


def write_architecture(spec: dict[str, Any], folder: Path) -> None:
    import diffusers

    index: dict[str, Any] = {"_class_name": spec["pipeline"], "_diffusers_version": diffusers.__version__,
                             **spec["extra"]}
    index["unet"] = ["diffusers", "UNet2DConditionModel"]
    _write_json(folder / "unet" / "config.json", _diffusers_config("UNet2DConditionModel", spec["unet"]))
    index["vae"] = ["diffusers", "AutoencoderKL"]
    _write_json(folder / "vae" / "config.json", _diffusers_config("AutoencoderKL", spec["vae"]))
    for name in ("scheduler", "low_res_scheduler"):
        if name in spec:
            scheduler_class, scheduler = spec[name]
            index[name] = ["diffusers", scheduler_class]
            defaults = getattr(diffusers, scheduler_class).from_config(scheduler).config
            scheduler_config = dict(defaults, **scheduler, _class_name=scheduler_class,
                                    _diffusers_version=diffusers.__version__)
            _write_json(folder / name / "scheduler_config.json", scheduler_config)
    for encoder, tokenizer in (("text_encoder", "tokenizer"), ("text_encoder_2", "tokenizer_2")):
        if encoder in spec:
            class_name, config = spec[encoder]
            index[encoder] = ["transformers", class_name]
            index[tokenizer] = ["transformers", "CLIPTokenizer"]
            _write_json(folder / encoder / "config.json", _clip_config(class_name, config))
            _write_json(folder / tokenizer / "tokenizer_config.json", _tokenizer_config(spec[tokenizer]))
    _write_json(folder / "model_index.json", index)


def main() -> None:
    for name, spec in ARCHITECTURES.items():
        write_architecture(spec, HERE / name)


if __name__ == "__main__":
    main()
