// Package spec describes diffusion-transformer architectures as data: it
// turns a family id plus the upstream constructor's hyperparameters (a
// "spec") into the exact state-dict key list, shapes and buffer flags that
// the upstream PyTorch model saves, and it does the reverse — detects the
// family, version and hyperparameters from a checkpoint's tensor list.
//
// Families (ids accepted in spec JSON "family"):
//
//	dit               facebookresearch/DiT models.py DiT
//	dit-diffusers     diffusers DiTTransformer2DModel (converted DiT)
//	pixart-alpha      PixArt-alpha PixArt / PixArtMS (micro_condition=true)
//	pixart-sigma      PixArt-sigma PixArt / PixArtMS
//	pixart-diffusers  diffusers PixArtTransformer2DModel
//	latte             Vchitect/Latte models/latte.py (extras 1, 2, 78)
//	stdit             Open-Sora 1.0 STDiT
//	stdit2            Open-Sora 1.1 STDiT2
//	stdit3            Open-Sora 1.2 STDiT3
//	stdit3-v4         Open-Sora 1.3 STDiT3 ("OpenSora-STDiT-v4")
//	mmdit             Open-Sora 2.0 MMDiT (split q/k/v or cond_in; fused without cond_in is flux)
//	flux              black-forest-labs Flux (FluxParams); flux-diffusers
//	wan               Wan 2.1/2.2 WanModel; wan-diffusers
//	sd3               Stability SD3/SD3.5 MMDiTX; sd3-diffusers
//	hunyuanvideo      Tencent HYVideoDiffusionTransformer; hunyuanvideo-diffusers
//	ltx-video         Lightricks LTX-Video Transformer3DModel; ltx-video-diffusers
//	cogvideox         diffusers CogVideoXTransformer3DModel (1.0 and 1.5)
//	sana              NVlabs SanaMS; sana-diffusers
//
// Today's families have release variants (Detection.Variant), layouts
// (original, diffusers, comfyui: LayoutOf, ToLayout) and presets named
// after docs/keys/2026 ("flux1-fill-dev", "sd3.5-medium.diffusers",
// "wan2.1-t2v-14B.comfyui").
//
// Spec JSON uses the upstream constructor's (or config.json's) field names;
// missing fields take upstream defaults. Two fields are ditkit's own:
// "micro_condition" (PixArt: PixArtMS csize/ar embedders; true only for
// α-1024-MS) and "saved_pos_embed" (PixArt: false for files saved without
// the pos_embed buffer, such as the released PixArt-Σ-256). MMDiT's
// dataclass has no defaults for most fields; Open-Sora 2.0's 256px config
// supplies them. Fields that never change the key list (flash-attention
// switches, dtype, drop_path, Hugging Face bookkeeping) are accepted and
// kept verbatim.
//
// Families lists every parameter with its default; Presets lists the
// published configurations by name (the names of the reference key lists,
// plus PixArt-Sigma-XL_2-2K-MS, STDiT3-3B_2_v1.2, the other DiT sizes and a
// few diffusers layouts).
//
// Keys are generated in true state_dict order: a module's own parameters,
// then its own persistent buffers, then its children in registration order
// (so y_embedder.y_embedding precedes y_embedder.y_proj.*, and
// final_layer.scale_shift_table precedes final_layer.linear.*).
//
// The package is pure computation: no file or OS access, so it builds for
// GOOS=js GOARCH=wasm as well as natively.
package spec
