//go:build js && wasm

package webgpu

import (
	"embed"
	"errors"
	"fmt"
	"github.com/ditkit/ditkit/wasm/jsutil"
	"strings"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
)

//go:embed shaders/*.wgsl
var shaderFS embed.FS

// Usage flags (GPUBufferUsage).
const (
	usageMapRead  = 0x0001
	usageCopySrc  = 0x0004
	usageCopyDst  = 0x0008
	usageUniform  = 0x0040
	usageStorage  = 0x0080
	mapModeRead   = 0x0001
	uniformSize   = 64
	maxHeadDim    = 128
	gemvMaxRows   = 8
	maxWorkgroups = 65535
)

// ErrUnavailable wraps every reason the GPU cannot be used (no WebGPU, no
// adapter, device lost, out of memory); callers fall back to the CPU.
var ErrUnavailable = errors.New("WebGPU unavailable")

// GPU is an open WebGPU device with its compiled pipelines.
type GPU struct {
	device, queue js.Value
	// Adapter describes the adapter (vendor, architecture, fallback).
	Adapter  string
	Fallback bool // a software adapter (SwiftShader)
	// F16 reports the shader-f16 feature: F16 weights are then read as
	// array<f16> instead of unpacking u32 words.
	F16 bool
	// Limits the device was created with.
	MaxBinding, MaxBuffer int64
	// SplitBytes, when > 0 and smaller than the limits, caps the size of
	// one weight buffer (tests force tensor splitting with it).
	SplitBytes int64
	// Matmul picks the matmul kernel: "tiled" (workgroup-memory tiles, for
	// GPUs), "direct" (no barriers, for software adapters) or "" (by the
	// adapter: direct on a fallback adapter).
	Matmul string

	mu        sync.Mutex
	pipelines map[string]js.Value
	dummy     js.Value
	lost      string                         // why the device was lost, "" while alive
	weights   map[*kernels.Weight]*gpuWeight // uploaded once (per-op calls and plans)
	plans     map[*dit.Program]*plan
}

var (
	openOnce sync.Once
	shared   *GPU
	openErr  error
)

// Open returns the page's GPU, initialising it on first use (navigator.gpu
// → requestAdapter → requestDevice). It awaits promises, so it must run on
// a goroutine, never inside a js.FuncOf callback.
func Open() (*GPU, error) {
	openOnce.Do(func() { shared, openErr = open() })
	if openErr != nil {
		return nil, openErr
	}
	if why := shared.Lost(); why != "" {
		return nil, fmt.Errorf("%w: device lost (%s)", ErrUnavailable, why)
	}
	return shared, nil
}

func open() (*GPU, error) {
	nav := js.Global().Get("navigator")
	gpu := nav.Get("gpu")
	if gpu.Type() != js.TypeObject {
		return nil, fmt.Errorf("%w: this browser has no navigator.gpu", ErrUnavailable)
	}
	adapter, err := jsutil.Await(gpu.Call("requestAdapter"))
	if err != nil {
		return nil, fmt.Errorf("%w: requestAdapter: %v", ErrUnavailable, err)
	}
	if adapter.Type() != js.TypeObject {
		return nil, fmt.Errorf("%w: no adapter (requestAdapter returned null)", ErrUnavailable)
	}
	g := &GPU{pipelines: map[string]js.Value{}, weights: map[*kernels.Weight]*gpuWeight{}, plans: map[*dit.Program]*plan{}}
	g.Adapter, g.Fallback = adapterInfo(adapter)
	lim := adapter.Get("limits")
	g.MaxBinding = int64(lim.Get("maxStorageBufferBindingSize").Float())
	g.MaxBuffer = int64(lim.Get("maxBufferSize").Float())
	desc := js.Global().Get("Object").New()
	req := js.Global().Get("Object").New()
	req.Set("maxStorageBufferBindingSize", float64(g.MaxBinding))
	req.Set("maxBufferSize", float64(g.MaxBuffer))
	desc.Set("requiredLimits", req)
	if feats := adapter.Get("features"); feats.Type() == js.TypeObject && feats.Call("has", "shader-f16").Bool() {
		g.F16 = true
		desc.Set("requiredFeatures", []any{"shader-f16"})
	}
	dev, err := jsutil.Await(adapter.Call("requestDevice", desc))
	if err != nil {
		return nil, fmt.Errorf("%w: requestDevice: %v", ErrUnavailable, err)
	}
	g.device, g.queue = dev, dev.Get("queue")
	var onLost js.Func
	onLost = js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "unknown reason"
		if len(args) > 0 && args[0].Type() == js.TypeObject {
			msg = strings.TrimSpace(args[0].Get("reason").String() + ": " + args[0].Get("message").String())
		}
		g.mu.Lock()
		g.lost = msg
		g.mu.Unlock()
		onLost.Release()
		return nil
	})
	dev.Get("lost").Call("then", onLost)
	g.dummy = g.buffer(16, usageStorage)
	return g, nil
}

func adapterInfo(adapter js.Value) (string, bool) {
	info := adapter.Get("info")
	var parts []string
	fallback := adapter.Get("isFallbackAdapter").Truthy()
	if info.Type() == js.TypeObject {
		for _, k := range []string{"vendor", "architecture", "device", "description"} {
			if v := info.Get(k); v.Type() == js.TypeString && v.String() != "" {
				parts = append(parts, v.String())
			}
		}
		if v := info.Get("isFallbackAdapter"); v.Type() == js.TypeBoolean {
			fallback = fallback || v.Bool()
		}
	}
	s := strings.Join(parts, " ")
	if s == "" {
		s = "unnamed adapter"
	}
	if fallback {
		s += " (software fallback adapter)"
	}
	return s, fallback
}

// Lost reports why the device was lost, or "".
func (g *GPU) Lost() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lost
}

func (g *GPU) alive() error {
	if why := g.Lost(); why != "" {
		return fmt.Errorf("%w: device lost (%s)", ErrUnavailable, why)
	}
	return nil
}

// Limits reports the device limits as text.
func (g *GPU) Limits() string {
	f16 := "no shader-f16 (16-bit weights unpacked from u32 words)"
	if g.F16 {
		f16 = "shader-f16"
	}
	return fmt.Sprintf("maxStorageBufferBindingSize %s, maxBufferSize %s, %s", mib(g.MaxBinding), mib(g.MaxBuffer), f16)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (g *GPU) directMatmul() bool {
	switch g.Matmul {
	case "direct":
		return true
	case "tiled":
		return false
	}
	return g.Fallback
}

// chunkLimit is the largest single weight buffer.
func (g *GPU) chunkLimit() int64 {
	l := min(g.MaxBinding, g.MaxBuffer)
	if g.SplitBytes > 0 && g.SplitBytes < l {
		l = g.SplitBytes
	}
	return l &^ 3
}

func (g *GPU) buffer(size int64, usage int) js.Value {
	d := js.Global().Get("Object").New()
	d.Set("size", float64((size+3)&^3))
	d.Set("usage", usage)
	return g.device.Call("createBuffer", d)
}

// write copies b into buf at off (b's length is padded to 4 bytes).
func (g *GPU) write(buf js.Value, off int64, b []byte) {
	if len(b) == 0 {
		return
	}
	n := (len(b) + 3) &^ 3
	u8 := js.Global().Get("Uint8Array").New(n)
	js.CopyBytesToJS(u8, b)
	g.queue.Call("writeBuffer", buf, float64(off), u8)
}

func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

// i32bytes encodes integers as little-endian int32 words.
func i32bytes(v []int) []byte {
	w := make([]uint32, len(v))
	for i, x := range v {
		w[i] = uint32(int32(x))
	}
	return u32bytes(w)
}

func u32bytes(v []uint32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

func (g *GPU) storage(n int) (js.Value, error) {
	size := int64(max(n, 1)) * 4
	if size > g.MaxBinding || size > g.MaxBuffer {
		return js.Value{}, fmt.Errorf("%w: an activation buffer of %s exceeds the device limits (%s)", ErrUnavailable, mib(size), g.Limits())
	}
	return g.buffer(size, usageStorage|usageCopyDst|usageCopySrc), nil
}

func (g *GPU) uniform(words []uint32) js.Value {
	b := g.buffer(uniformSize, usageUniform|usageCopyDst)
	g.write(b, 0, u32bytes(words))
	return b
}

// pipeline returns the compute pipeline of a shader (compiled once per
// shader and dtype, then cached). With shader-f16, F16 weights use the
// array<f16> variant, or the u32 one should that fail to compile.
func (g *GPU) pipeline(name string, dtype int) (js.Value, error) {
	key := fmt.Sprintf("%s/%d", name, dtype)
	g.mu.Lock()
	p, ok := g.pipelines[key]
	g.mu.Unlock()
	if ok {
		return p, nil
	}
	withW := strings.HasPrefix(name, "matmul") || strings.HasPrefix(name, "gemv")
	src, err := shaderFS.ReadFile("shaders/" + name + ".wgsl")
	if err != nil {
		return js.Value{}, err
	}
	if withW && dtype == dtF16 && g.F16 && name != "matmul_direct" {
		common, _ := shaderFS.ReadFile("shaders/common_f16.wgsl")
		code := string(common) + "\n" + strings.Replace(string(src), "var<storage, read> w: array<u32>;", "var<storage, read> w: array<f16>;", 1)
		if p, err := g.compile(key+"/f16", code, nil); err == nil {
			g.mu.Lock()
			g.pipelines[key] = p
			g.mu.Unlock()
			return p, nil
		} else {
			js.Global().Get("console").Call("warn", "ditkit: shader-f16 variant of "+name+": "+err.Error()+"; unpacking u32 words instead")
		}
	}
	code := string(src)
	var constants map[string]any
	if withW {
		common, _ := shaderFS.ReadFile("shaders/common.wgsl")
		code = string(common) + "\n" + code
		constants = map[string]any{"DTYPE": dtype}
	}
	p, err = g.compile(key, code, constants)
	if err != nil {
		return js.Value{}, err
	}
	g.mu.Lock()
	g.pipelines[key] = p
	g.mu.Unlock()
	return p, nil
}

func (g *GPU) compile(label, code string, constants map[string]any) (js.Value, error) {
	md := js.Global().Get("Object").New()
	md.Set("code", code)
	md.Set("label", label)
	g.device.Call("pushErrorScope", "validation")
	mod := g.device.Call("createShaderModule", md)
	comp := js.Global().Get("Object").New()
	comp.Set("module", mod)
	comp.Set("entryPoint", "main")
	if constants != nil {
		comp.Set("constants", js.ValueOf(constants))
	}
	pd := js.Global().Get("Object").New()
	pd.Set("layout", "auto")
	pd.Set("compute", comp)
	pd.Set("label", label)
	pv, err := jsutil.Await(g.device.Call("createComputePipelineAsync", pd))
	scopeErr := g.popError()
	if err != nil {
		return js.Value{}, fmt.Errorf("webgpu: compile %s: %v", label, err)
	}
	if scopeErr != nil {
		return js.Value{}, fmt.Errorf("webgpu: compile %s: %v", label, scopeErr)
	}
	return pv, nil
}

// popError awaits the innermost error scope.
func (g *GPU) popError() error {
	v, err := jsutil.Await(g.device.Call("popErrorScope"))
	if err != nil {
		return err
	}
	if v.Type() == js.TypeObject {
		return errors.New(v.Get("message").String())
	}
	return nil
}

// dispatch is one recorded compute dispatch.
type dispatch struct {
	pipe  js.Value
	group js.Value
	wg    [3]int
	owned []js.Value // buffers to destroy with the dispatch (uniforms)
}

func (g *GPU) bind(pipe js.Value, bufs ...js.Value) js.Value {
	entries := js.Global().Get("Array").New()
	for i, b := range bufs {
		e := js.Global().Get("Object").New()
		e.Set("binding", i)
		r := js.Global().Get("Object").New()
		r.Set("buffer", b)
		e.Set("resource", r)
		entries.Call("push", e)
	}
	d := js.Global().Get("Object").New()
	d.Set("layout", pipe.Call("getBindGroupLayout", 0))
	d.Set("entries", entries)
	return g.device.Call("createBindGroup", d)
}

// encode records the dispatches into one compute pass of enc.
func encode(enc js.Value, ds []dispatch) {
	pass := enc.Call("beginComputePass")
	for _, d := range ds {
		pass.Call("setPipeline", d.pipe)
		pass.Call("setBindGroup", 0, d.group)
		pass.Call("dispatchWorkgroups", d.wg[0], d.wg[1], d.wg[2])
	}
	pass.Call("end")
}

func destroy(ds []dispatch) {
	for _, d := range ds {
		for _, b := range d.owned {
			b.Call("destroy")
		}
	}
}

// run submits ds and reads len(dst) float32s of out back (out must allow
// COPY_SRC) through a temporary staging buffer, checking for validation
// and out-of-memory errors.
func (g *GPU) run(ds []dispatch, out js.Value, outOff int64, dst []float32) error {
	staging := g.buffer(int64(len(dst))*4, usageMapRead|usageCopyDst)
	defer staging.Call("destroy")
	return g.submit(ds, out, outOff, dst, staging, true)
}

// submit encodes ds into one compute pass, copies out into staging and
// reads it back. The mapped range is copied out before unmap (which
// detaches it). check wraps the submission in validation and
// out-of-memory error scopes (a plan checks its first run only).
func (g *GPU) submit(ds []dispatch, out js.Value, outOff int64, dst []float32, staging js.Value, check bool) error {
	if err := g.alive(); err != nil {
		return err
	}
	size := (int64(len(dst))*4 + 3) &^ 3
	if check {
		g.device.Call("pushErrorScope", "out-of-memory")
		g.device.Call("pushErrorScope", "validation")
	}
	enc := g.device.Call("createCommandEncoder")
	encode(enc, ds)
	enc.Call("copyBufferToBuffer", out, float64(outOff), staging, 0, float64(size))
	g.queue.Call("submit", []any{enc.Call("finish")})
	if check {
		verr := g.popError()
		oerr := g.popError()
		if verr != nil {
			return fmt.Errorf("webgpu: %v", verr)
		}
		if oerr != nil {
			return fmt.Errorf("%w: out of GPU memory: %v", ErrUnavailable, oerr)
		}
	}
	if _, err := jsutil.Await(staging.Call("mapAsync", mapModeRead, 0, float64(size))); err != nil {
		if lerr := g.alive(); lerr != nil {
			return lerr
		}
		return fmt.Errorf("webgpu: readback: %v", err)
	}
	view := js.Global().Get("Uint8Array").New(staging.Call("getMappedRange", 0, float64(size)))
	js.CopyBytesToGo(f32bytes(dst), view)
	staging.Call("unmap")
	return g.alive()
}

func u16bytes(v []uint16) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*2)
}
