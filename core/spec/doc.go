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
//	mmdit             Open-Sora 2.0 MMDiT and the Flux (BFL) layout
//
// Families lists every parameter with its default; Presets lists the
// published configurations by name (the names of the reference key lists).
//
// The package is pure computation: no file or OS access, so it builds for
// GOOS=js GOARCH=wasm as well as natively.
package spec
