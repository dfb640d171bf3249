"""Tiny seeded adapters for the tiny models of tests/tiny_models.py: textual inversion embeddings in each format people
share them in, and a ControlNet whose control image changes the output. Each builds in well under a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The spread of a CLIP token embedding table (transformers initialises CLIP's with this standard deviation).
EMBEDDING_STD = 0.02


def embedding_vectors(rows: int, dim: int, seed: int) -> Any:
    """Random non-zero vectors like a trained embedding's: [rows, dim], normal with the CLIP table's spread."""
    import torch

    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed)) * EMBEDDING_STD


def write_a1111_pt(path: Path, dim: int, vectors: int = 2, seed: int = 0) -> Path:
    """AUTOMATIC1111's .pt: a pickled dict of plain containers, the vectors in string_to_param['*'] (saved with
    requires_grad, as its trainer leaves them)."""
    import torch

    matrix = embedding_vectors(vectors, dim, seed).requires_grad_(True)
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": matrix}, "name": Path(path).stem,
                "step": 1000, "sd_checkpoint": "0123abcd", "sd_checkpoint_name": "tiny"}, path)
    return Path(path)


def write_a1111_safetensors(path: Path, dim: int, vectors: int = 2, seed: int = 0) -> Path:
    from safetensors.torch import save_file

    save_file({"emb_params": embedding_vectors(vectors, dim, seed)}, path)
    return Path(path)


def write_a1111_sdxl(path: Path, dim_l: int, dim_g: int, vectors: int = 2, seed: int = 0) -> Path:
    """AUTOMATIC1111's SDXL file: clip_l for the first text encoder, clip_g for the second."""
    from safetensors.torch import save_file

    save_file({"clip_l": embedding_vectors(vectors, dim_l, seed),
               "clip_g": embedding_vectors(vectors, dim_g, seed + 1)}, path)
    return Path(path)


def write_diffusers_embedding(folder_or_file: Path, token: str, dim: int, seed: int = 0, vectors: int = 1,
                              name: str = "learned_embeds.safetensors") -> Path:
    """diffusers' {token: vectors} ([dim] for one vector, as its trainer saves it); a path ending in .safetensors or
    .bin is the file itself, anything else a folder that receives `name`."""
    import torch
    from safetensors.torch import save_file

    path = Path(folder_or_file)
    if path.suffix not in (".safetensors", ".bin"):
        path.mkdir(parents=True, exist_ok=True)
        path = path / name
    matrix = embedding_vectors(vectors, dim, seed)
    state = {token: matrix[0] if vectors == 1 else matrix}
    if path.suffix == ".bin":
        torch.save(state, path)
    else:
        save_file(state, path)
    return path


# The conditioning embedding downsamples the control image by 2 per level after the first, so 4 levels bring a 64x64
# control image to the 8x8 latent; the default widths (16, 32, 96, 256) are sized for SD's UNet, not this one.
TINY_CONDITIONING_CHANNELS = (8, 8, 16, 16)


def build_tiny_controlnet(unet_folder: Path, destination: Path, seed: int = 0) -> Path:
    """A ControlNet made from a tiny SD or SDXL UNet (its `unet` folder), saved in `destination`.

    diffusers initialises a ControlNet's output convolutions (the conditioning embedding's conv_out, and the
    controlnet_down_blocks and controlnet_mid_block added to the UNet's skips) to zero, so a fresh one changes nothing;
    here they get seeded random weights, and the conditioning embedding's layers a spread that carries the control
    image through, so the control image shows in the output.
    """
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=TINY_CONDITIONING_CHANNELS)
    generator = torch.Generator().manual_seed(seed)
    embedding = controlnet.controlnet_cond_embedding
    with torch.no_grad():
        for convolution in [embedding.conv_in, *embedding.blocks]:
            _randomise(convolution, 2 ** 0.5, generator)
        _randomise(embedding.conv_out, 20.0, generator)
        for convolution in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            _randomise(convolution, 2.0, generator)
    controlnet.save_pretrained(destination)
    return Path(destination)


def _randomise(convolution: Any, scale: float, generator: Any) -> None:
    """Normal weights of spread scale / sqrt(fan-in) and zero biases. In the conditioning embedding a scale of sqrt(2)
    carries the control image through the SiLU layers (diffusers' default initialisation shrinks it ~10^4-fold over
    its seven layers), and 20 at its end makes its features as large as conv_in's features of the latent (it ends
    ~20 times smaller). The UNet's GroupNorms saturate what the output convolutions add, so beyond that more changes
    little: at scale 2.0 a mirrored control image moves the tiny SD and SDXL images by ~9 and ~10 of 255 levels."""
    fan_in = convolution.weight[0].numel()
    convolution.weight.normal_(0.0, scale / fan_in ** 0.5, generator=generator)
    convolution.bias.zero_()


def build_tiny_flow_controlnet(model_folder: Path, destination: Path, seed: int = 0) -> Path:
    """A ControlNet made from a tiny Flux or SD3 model's transformer (one block of each kind), its zero-initialised
    output layers (and the layer that adds the control image) given seeded random weights so that it acts."""
    import json

    import diffusers
    import torch

    transformer_class = json.loads((model_folder / "transformer" / "config.json").read_text())["_class_name"]
    transformer = getattr(diffusers, transformer_class).from_pretrained(model_folder / "transformer")
    torch.manual_seed(seed)
    if transformer_class == "FluxTransformer2DModel":
        controlnet = diffusers.FluxControlNetModel.from_transformer(
            transformer, num_layers=1, num_single_layers=1, attention_head_dim=transformer.config.attention_head_dim,
            num_attention_heads=transformer.config.num_attention_heads)
        outputs = [*controlnet.controlnet_blocks, *controlnet.controlnet_single_blocks,
                   controlnet.controlnet_x_embedder]
    else:  # the tiny transformer's one block is its last, which has no context output: not copied into a ControlNet
        controlnet = diffusers.SD3ControlNetModel.from_transformer(transformer, num_layers=1,
                                                                   num_extra_conditioning_channels=0,
                                                                   load_weights_from_transformer=False)
        outputs = [*controlnet.controlnet_blocks, controlnet.pos_embed_input.proj]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in outputs:
            _randomise(layer, 2.0, generator)
    controlnet.save_pretrained(destination)
    return Path(destination)


def save_tiny_transformer(model: Path, destination: Path, seed: int) -> Path:
    """Another transformer of `model`'s shape (its transformer/config.json), seeded `seed`: a diffusers folder at
    `destination` and the same weights as one diffusers-layout file `destination`.safetensors beside it."""
    import diffusers
    import torch
    from safetensors.torch import save_file

    cls = getattr(diffusers, _transformer_class(model))
    torch.manual_seed(seed)
    transformer = cls.from_config(cls.load_config(model / "transformer"))
    transformer.save_pretrained(destination)
    save_file({name: tensor.contiguous() for name, tensor in transformer.state_dict().items()},
              destination.with_suffix(".safetensors"))
    return destination


def _transformer_class(model: Path) -> str:
    import json

    return str(json.loads((model / "transformer" / "config.json").read_text())["_class_name"])


def sd3_original_layout(state: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A diffusers SD3Transformer2DModel state dict in Stability's original layout (`joint_blocks.*`), the inverse of
    diffusers' convert_sd3_transformer_checkpoint_to_diffusers for models without QK norm or second attention (the
    tiny one). `prefix` "model.diffusion_model." gives it as a whole checkpoint holds it."""
    import torch

    def swapped(weight: Any) -> Any:  # diffusers' AdaLayerNormContinuous splits scale, shift; the original shift, scale
        first, second = weight.chunk(2, dim=0)
        return torch.cat([second, first], dim=0)

    assert not any(".norm_q." in name or ".attn2." in name for name in state), "QK norm and attn2 are not inverted"
    out = {"pos_embed": state["pos_embed.pos_embed"], "final_layer.linear.weight": state["proj_out.weight"],
           "final_layer.linear.bias": state["proj_out.bias"],
           "final_layer.adaLN_modulation.1.weight": swapped(state["norm_out.linear.weight"]),
           "final_layer.adaLN_modulation.1.bias": swapped(state["norm_out.linear.bias"])}
    renames = {"pos_embed.proj.": "x_embedder.proj.",
               "time_text_embed.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
               "time_text_embed.timestep_embedder.linear_2.": "t_embedder.mlp.2.",
               "time_text_embed.text_embedder.linear_1.": "y_embedder.mlp.0.",
               "time_text_embed.text_embedder.linear_2.": "y_embedder.mlp.2.", "context_embedder.": "context_embedder."}
    for old, new in renames.items():
        for kind in ("weight", "bias"):
            out[new + kind] = state[old + kind]
    layers = 1 + max(int(name.split(".")[1]) for name in state if name.startswith("transformer_blocks."))
    for i in range(layers):
        out.update(_sd3_block(state, i, last=i == layers - 1, swapped=swapped))
    return {prefix + name: tensor.contiguous() for name, tensor in out.items()}


def _sd3_block(state: dict[str, Any], i: int, last: bool, swapped: Any) -> dict[str, Any]:
    import torch

    ours, x, context = f"transformer_blocks.{i}.", f"joint_blocks.{i}.x_block.", f"joint_blocks.{i}.context_block."
    out: dict[str, Any] = {}
    for kind in ("weight", "bias"):
        out[f"{x}attn.qkv.{kind}"] = torch.cat([state[f"{ours}attn.to_{p}.{kind}"] for p in "qkv"])
        out[f"{context}attn.qkv.{kind}"] = torch.cat([state[f"{ours}attn.add_{p}_proj.{kind}"] for p in "qkv"])
        out[f"{x}attn.proj.{kind}"] = state[f"{ours}attn.to_out.0.{kind}"]
        out[f"{x}adaLN_modulation.1.{kind}"] = state[f"{ours}norm1.linear.{kind}"]
        out[f"{x}mlp.fc1.{kind}"] = state[f"{ours}ff.net.0.proj.{kind}"]
        out[f"{x}mlp.fc2.{kind}"] = state[f"{ours}ff.net.2.{kind}"]
        modulation = state[f"{ours}norm1_context.linear.{kind}"]
        out[f"{context}adaLN_modulation.1.{kind}"] = swapped(modulation) if last else modulation
        if not last:
            out[f"{context}attn.proj.{kind}"] = state[f"{ours}attn.to_add_out.{kind}"]
            out[f"{context}mlp.fc1.{kind}"] = state[f"{ours}ff_context.net.0.proj.{kind}"]
            out[f"{context}mlp.fc2.{kind}"] = state[f"{ours}ff_context.net.2.{kind}"]
    return out


def save_gguf(state: dict[str, Any], destination: Path) -> Path:
    """`state` as a GGUF file (llama.cpp's format, written by the gguf package): weight matrices whose rows are whole
    32-value blocks quantized to Q8_0 (as city96's Flux and Qwen-Image GGUFs hold them), the rest (biases, norms,
    learned tokens) in float32."""
    import gguf

    writer = gguf.GGUFWriter(str(destination), "dgenerate-test")
    for name, tensor in state.items():
        values = tensor.float().numpy()
        if name.endswith(".weight") and values.ndim == 2 and values.shape[-1] % 32 == 0:
            kind = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(values, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return destination
