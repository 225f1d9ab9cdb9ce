"""Tiny, randomly initialised diffusers pipelines the tests build and save themselves.

Built from small configs (after diffusers' own fast tests), with a CLIP tokenizer made from an
in-memory byte-level vocabulary: nothing is downloaded. Needs the `diffusers` extra; import it
after `pytest.importorskip("diffusers")`.
"""

from __future__ import annotations

from pathlib import Path

import diffusers
import torch
import transformers

SVD_FRAMES = 4
"""Frames the tiny Stable Video Diffusion UNet is configured for."""


def byte_level_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary of single bytes only (no merges): every text tokenizes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    chars = [chr(b) for b in printable]
    chars += [chr(256 + n) for n in range(256 - len(printable))]  # GPT-2 byte-to-unicode map
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in chars:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    return vocab


def build_tiny_pipeline(dest: Path) -> None:
    """A randomly initialised TextToVideoSDPipeline of a few thousand parameters, saved to dest."""
    vocab = byte_level_vocab()
    torch.manual_seed(0)
    unet = diffusers.UNet3DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=4,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    scheduler = diffusers.DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    # Three blocks: latents are 1/8 of the frame, as in real models (one block would leave
    # 96x64 latents and spatial attention over 6144 tokens: ~15 s a step on 2 cores).
    vae = diffusers.AutoencoderKL(
        block_out_channels=(8, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=4,
        sample_size=32,
        norm_num_groups=2,
    )
    text_encoder = transformers.CLIPTextModel(
        transformers.CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=4,
            intermediate_size=16,
            layer_norm_eps=1e-05,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=77,
            vocab_size=len(vocab),
            hidden_act="gelu",
            projection_dim=32,
        )
    )
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    pipe = diffusers.TextToVideoSDPipeline(
        unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer
    )
    pipe.save_pretrained(str(dest))


def build_tiny_svd(dest: Path) -> None:
    """A randomly initialised StableVideoDiffusionPipeline (about a million parameters).

    The UNet's group norms are fixed at 32 groups, hence 32 channels; the image encoder sees the
    224x224 the pipeline always resizes to, in 32-pixel patches (49 tokens).
    """
    torch.manual_seed(0)
    unet = diffusers.UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 32),
        layers_per_block=1,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=8,
        num_attention_heads=2,
        projection_class_embeddings_input_dim=12,
        addition_time_embed_dim=4,
        num_frames=SVD_FRAMES,
    )
    scheduler = diffusers.EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    # Four blocks: latents at 1/8 of the frame, as in the real model.
    vae = diffusers.AutoencoderKLTemporalDecoder(
        block_out_channels=[32] * 4,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=1,
    )
    image_encoder = transformers.CLIPVisionModelWithProjection(
        transformers.CLIPVisionConfig(
            hidden_size=8,
            projection_dim=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=224,
            intermediate_size=16,
            patch_size=32,
        )
    )
    pipe = diffusers.StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=scheduler,
        feature_extractor=transformers.CLIPImageProcessor(crop_size=224, size=224),
    )
    pipe.save_pretrained(str(dest))


def build_tiny_ltx_image_to_video(dest: Path) -> None:
    """A randomly initialised LTXImageToVideoPipeline (LTX-Video taking an image and a prompt).

    The T5 tokenizer is a unigram vocabulary of single characters, built in memory; the VAE
    compresses 4x in space and time, so 9 frames of 96x64 are 3 latent frames of 24x16."""
    torch.manual_seed(0)
    characters = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -3.0) for c in characters]
    tokenizer = transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=32)
    text_encoder = transformers.T5EncoderModel(
        transformers.T5Config(
            vocab_size=len(vocab),
            d_model=8,
            d_kv=4,
            d_ff=16,
            num_layers=1,
            num_heads=2,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=4,
        cross_attention_dim=8,
        num_layers=1,
        caption_channels=8,
    )
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    pipe = diffusers.LTXImageToVideoPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(str(dest))
