"""Write a tiny diffusers pipeline as one checkpoint in the original Stable Diffusion (LDM) layout, for tests.

The inverse of diffusers' single-file conversion, for the block layouts the tiny models use (any number of blocks and
layers). OpenCLIP text encoders (SDXL's second) are written with fused q/k/v as the original checkpoints have them.
"""

from __future__ import annotations

from typing import Any

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"))
_VAE_RESNET = (("conv_shortcut", "nin_shortcut"),)
_VAE_ATTENTION = (("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
                  ("to_out.0.", "proj_out."))


def _unet_prefixes(config: Any) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) for every block of a UNet2DConditionModel."""
    layers, blocks = config.layers_per_block, len(config.block_out_channels)
    pairs = [("mid_block.attentions.0.", "middle_block.1.")]
    pairs += [(f"mid_block.resnets.{j}.", f"middle_block.{2 * j}.") for j in range(2)]
    for i in range(blocks):
        for j in range(layers):
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.0."))
            pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{(layers + 1) * i + j + 1}.1."))
        if i < blocks - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(layers + 1) * (i + 1)}.0.op."))
            upsample = 2 if "CrossAttn" in config.up_block_types[i] else 1
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{(layers + 1) * i + layers}.{upsample}."))
        for j in range(layers + 1):
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{(layers + 1) * i + j}.0."))
            pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{(layers + 1) * i + j}.1."))
    return pairs


def _unet(state: dict[str, Any], config: Any) -> dict[str, Any]:
    fixed = {"time_embedding.linear_1.": "time_embed.0.", "time_embedding.linear_2.": "time_embed.2.",
             "conv_in.": "input_blocks.0.0.", "conv_norm_out.": "out.0.", "conv_out.": "out.2.",
             "add_embedding.linear_1.": "label_emb.0.0.", "add_embedding.linear_2.": "label_emb.0.2.",
             "class_embedding.": "label_emb."}  # the x4 upscaler's noise-level classes
    prefixes = sorted([*fixed.items(), *_unet_prefixes(config)], key=lambda pair: -len(pair[0]))
    out = {}
    for key, value in state.items():
        old, new = next((old, new) for old, new in prefixes if key.startswith(old))
        rest = key[len(old):]
        if ".resnets." in old or old.startswith("mid_block.resnets"):
            for ours, theirs in _RESNET:
                rest = rest.replace(ours, theirs)
        out["model.diffusion_model." + new + rest] = value
    return out


def _vae(state: dict[str, Any], config: Any) -> dict[str, Any]:
    blocks, layers = len(config.block_out_channels), config.layers_per_block
    pairs = [("encoder.mid_block.attentions.0.", "encoder.mid.attn_1."),
             ("decoder.mid_block.attentions.0.", "decoder.mid.attn_1."),
             ("encoder.conv_norm_out.", "encoder.norm_out."), ("decoder.conv_norm_out.", "decoder.norm_out.")]
    for part in ("encoder", "decoder"):
        pairs += [(f"{part}.mid_block.resnets.{j}.", f"{part}.mid.block_{j + 1}.") for j in range(2)]
    for i in range(blocks):
        pairs += [(f"encoder.down_blocks.{i}.resnets.{j}.", f"encoder.down.{i}.block.{j}.") for j in range(layers)]
        pairs.append((f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."))
        up = blocks - 1 - i
        pairs += [(f"decoder.up_blocks.{i}.resnets.{j}.", f"decoder.up.{up}.block.{j}.") for j in range(layers + 1)]
        pairs.append((f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{up}.upsample."))
    out = {}
    for key, value in state.items():
        old, new = next(((old, new) for old, new in pairs if key.startswith(old)), ("", ""))
        rest = key[len(old):]
        for ours, theirs in _VAE_RESNET + (_VAE_ATTENTION if "attn_1" in new else ()):
            rest = rest.replace(ours, theirs)
        if "attn_1" in new and rest.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]
        out["first_stage_model." + new + rest] = value
    return out


def _clip(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """transformers 5 names CLIP weights without the 'text_model.' prefix the LDM layout has."""
    return {prefix + "text_model." + key.removeprefix("text_model."): value for key, value in state.items()
            if not key.startswith("text_projection")}


def _open_clip(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    renames = (("encoder.layers.", "transformer.resblocks."), ("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"),
               ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"), ("self_attn.out_proj", "attn.out_proj"))
    fixed = {"embeddings.position_embedding.weight": "positional_embedding",
             "embeddings.token_embedding.weight": "token_embedding.weight",
             "final_layer_norm.weight": "ln_final.weight", "final_layer_norm.bias": "ln_final.bias"}
    for key, value in state.items():
        key = key.removeprefix("text_model.")
        if key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif key in fixed:
            out[prefix + fixed[key]] = value
        elif ".self_attn.q_proj." in key:
            kind = key.rsplit(".", 1)[1]
            layer = key.split(".self_attn.")[0]
            prefix_in_state = "text_model." if "text_model." + layer + ".layer_norm1.weight" in state else ""
            fused = torch.cat([state[f"{prefix_in_state}{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"])
            out[prefix + layer.replace("encoder.layers.", "transformer.resblocks.") + f".attn.in_proj_{kind}"] = fused
        elif ".self_attn.k_proj." not in key and ".self_attn.v_proj." not in key:
            for ours, theirs in renames:
                key = key.replace(ours, theirs)
            out[prefix + key] = value
    return out


def ldm_state_dict(pipeline: Any) -> dict[str, Any]:
    """The pipeline's weights under the original checkpoint names (SD 1.x, or SDXL base / refiner)."""
    state = {**_unet(pipeline.unet.state_dict(), pipeline.unet.config),
             **_vae(pipeline.vae.state_dict(), pipeline.vae.config)}
    text_encoder: Any = getattr(pipeline, "text_encoder", None)
    text_encoder_2: Any = getattr(pipeline, "text_encoder_2", None)
    if text_encoder_2 is None:
        state.update(_clip(text_encoder.state_dict(), "cond_stage_model.transformer."))
    elif text_encoder is None:
        state.update(_open_clip(text_encoder_2.state_dict(), "conditioner.embedders.0.model."))
    else:
        state.update(_clip(text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
        state.update(_open_clip(text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    return {key: value.contiguous() for key, value in state.items()}


def vae_ldm_state_dict(vae: Any) -> dict[str, Any]:
    """A VAE alone, as the original VAE files (e.g. vae-ft-mse-840000-ema-pruned) name its weights."""
    return {key.removeprefix("first_stage_model."): value for key, value in _vae(vae.state_dict(), vae.config).items()}
