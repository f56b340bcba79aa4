// Package dit runs diffusion transformers (facebookresearch/DiT, Open-Sora
// 1.0 STDiT, Open-Sora 1.2 STDiT3 and 1.3 STDiT-v4, PixArt-α/Σ and Latte today) on the CPU, natively and in WebAssembly, and
// on devices through a Runner (WebGPU), with weights kept in their stored
// dtype (F32, BF16, F16) and float32 compute.
//
// # One path from a checkpoint to samples
//
//	spec.Resolve(src.Infos(), req)    the one detector and its policy data (core/spec)
//	Build(src, resolution, opt)       the one loader: tensors + resolved spec → Net
//	Load(src, req, policy, opt)       Resolve + the policy + Build: what the CLI,
//	                                  the page and window.ditkit call
//	net.Forward(ctx, x, shape, t, c, opt)
//	                                  patchify → the model's Program → unpatchify
//	ForwardWithCFG(ctx, net, …)       forward_with_cfg for any Net with Guided() > 0
//	sample.Run(ctx, net, req)         the one sampling loop (core/sample)
//
// src is a tensor.Source (loader.Checkpoint, tensor.Map, RandomWeights);
// names are read as the resolution's Prefix (found by detection:
// "module.", …) plus the spec's key names, shapes are checked against the
// spec, and fixed tables the checkpoint lacks are computed with core/fix's
// numpy-exact sin-cos formula (the table a conversion would write).
//
// # One wiring: the Program
//
// A Program is one forward at one batch size as a flat list of ops over
// float32 buffers (LinearOp, AddOp, SiLUOp, NormOp, AttnOp, GateOp, SwapOp,
// GatherOp, RMSNormOp, RoPEOp, LayerNormOp, CopyOp, TapOp, BlockOp). Options pick how it runs, explicitly:
// Options.Backend runs it op by op (Eager) on a kernel set (kernels.CPU by
// default, or a device's per-op kernels) and shows every TapOp to
// Options.Hook under the reference fixtures' names; Options.Runner runs it
// whole on a device (wasm/webgpu compiles the same op list once into
// dispatches and keeps the activations resident). Hook with a Runner is an
// error, never silently ignored. Models cache their programs, so a device
// compiles each once.
//
// # Adding a family (PixArt, STDiT3, Latte, …)
//
//  1. core/spec already describes it (keys, presets, detection); what its
//     shapes cannot decide comes back as spec.Ambiguity and is settled by
//     the consumers' policy.
//  2. Here: a config from the spec, a constructor reading its weights with
//     reader (linear, vec, table) registered in builders, and its Program
//     built with builder (selfAttn, mlp, …). Conditioning it reads (PixArt
//     captions and masks, resolution/aspect-ratio, fps) goes in Cond; its
//     null conditioning is Net.Null, its guided channels Net.Guided.
//  3. An op no existing one expresses is a new *Op type with an Eager case;
//     wasm/webgpu either gets a kernel for it or reports "no WebGPU kernel
//     yet" (the model then runs on the CPU, saying why).
//  4. Its sampler plugs into core/sample (PixArt's IDDPM is this Gaussian
//     diffusion; Open-Sora 1.2/1.3's rectified flow is the second
//     scheduler, sample.RFlow, chosen per family by sample.DefaultsFor).
//
// STDiT3 (stdit3.go) shows the general tools: per-forward tables as
// program inputs (PositionEmbedding2D at the video's scale, RoPETable rows
// for RoPEOp), integer inputs naming rows (caption packing, the x_mask
// modulation row of each frame, attention windows laid out by GatherOp and
// limited by AttnOp.KVLen) and in-place per-head ops (RMSNormOp).
//
// Quantized weights (GGUF Q8_0/Q4_K, fp8) are a kernels.Weight storage
// format: the matmul dequantizes them per panel, the wiring is unchanged.
// Sharded CPU execution (Web Workers) is a Runner: it can split each
// LinearOp by output columns across workers holding weight shards.
package dit
