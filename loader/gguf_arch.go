package loader

// ggufArchitectures names the general.architecture values that
// diffusion GGUF files carry (ComfyUI-GGUF's loader lists and convert.py
// templates), plus the text-encoder ones ComfyUI-GGUF also loads.
var ggufArchitectures = map[string]string{
	"flux":       "FLUX.1 (Black Forest Labs)",
	"sd3":        "Stable Diffusion 3 (MMDiT)",
	"aura":       "AuraFlow",
	"hidream":    "HiDream-I1",
	"cosmos":     "NVIDIA Cosmos Predict2",
	"ltxv":       "LTX-Video",
	"hyvid":      "HunyuanVideo",
	"wan":        "Wan 2.x",
	"lumina2":    "Lumina-Image 2.0",
	"qwen_image": "Qwen-Image",
	"sdxl":       "Stable Diffusion XL UNet",
	"sd1":        "Stable Diffusion 1.x UNet",
	"pig":        "ComfyUI-GGUF compatibility marker (architecture detected from the tensors)",
	"cow":        "ComfyUI-GGUF compatibility marker (architecture detected from the tensors)",
	"opensora":   "Open-Sora STDiT (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"dit":        "DiT (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"pixart":     "PixArt-α/Σ (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"latte":      "Latte (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"cogvideox":  "CogVideoX (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"sana":       "Sana (ditkit's name for it; ComfyUI-GGUF does not load it)",
	"t5":         "T5 text encoder",
	"t5encoder":  "T5 text encoder",
	"llama":      "Llama (a language model or text encoder)",
	"qwen2vl":    "Qwen2-VL text encoder",
	"qwen3":      "Qwen3 text encoder",
	"qwen3vl":    "Qwen3-VL text encoder",
}

// GGUFArchitectureName describes a general.architecture value; known is
// false for a value no diffusion GGUF tool writes (the description then
// says it is foreign).
func GGUFArchitectureName(arch string) (name string, known bool) {
	if arch == "" {
		return "none (stable-diffusion.cpp and ggml's own writer leave it out)", false
	}
	if n, ok := ggufArchitectures[arch]; ok {
		return n, true
	}
	return "foreign: not an architecture ComfyUI-GGUF or stable-diffusion.cpp writes", false
}
