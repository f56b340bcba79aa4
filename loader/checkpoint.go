package loader

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/format"
)

// Format names as reported by inspect (loader/format's).
const (
	FormatTorchZip    = format.TorchZip
	FormatTorchLegacy = format.TorchLegacy
	FormatSafetensors = format.Safetensors
)

// Storage is a run of raw little-endian bytes in the file that one or more
// tensors view.
type Storage struct {
	Key   string       // zip entry key or legacy storage key
	DType tensor.DType // element type (for UntypedStorage: the viewing tensor's)
	Off   int64        // absolute byte offset in the file
	Size  int64        // bytes
	Shard *Shard       // set for sharded sets: the file holding the bytes
}

// Shard is one file of a sharded checkpoint.
type Shard struct {
	Name string
	R    io.ReaderAt
	Size int64
}

// Tensor is a lazy handle: metadata now, data when asked.
type Tensor struct {
	Name    string // container keys joined with '/'
	DType   tensor.DType
	Shape   []int
	Strides []int // in elements
	Offset  int64 // storage offset in elements
	Storage *Storage
	// GGUF is how a GGUF file stores the tensor (ggml type, stored dims,
	// raw byte range, shape evidence); nil for other formats. For a
	// quantized type DType is F32 and dense reads dequantize.
	GGUF *GGUFTensor
}

// Numel is the element count.
func (t *Tensor) Numel() int64 { n, _ := tensor.Numel(t.Shape); return n }

// NBytes is the size of the tensor's data when contiguous.
func (t *Tensor) NBytes() int64 { return t.Numel() * int64(t.DType.Size()) }

// Info returns the tensor's metadata.
func (t *Tensor) Info() tensor.Info { return tensor.Info{Name: t.Name, DType: t.DType, Shape: t.Shape} }

// Contiguous reports whether the strides are row-major.
// FileRange is where a contiguous tensor's bytes lie in its checkpoint's
// own file: offset and length. ok is false for strided views and for
// tensors of a sharded set (they live in other files).
func (t *Tensor) FileRange() (off, n int64, ok bool) {
	if t.Storage == nil || t.Storage.Shard != nil || !t.Contiguous() || t.GGUF.Quantized() {
		return 0, 0, false
	}
	return t.Storage.Off + t.Offset*int64(t.DType.Size()), t.NBytes(), true
}

func (t *Tensor) Contiguous() bool {
	want := tensor.ContiguousStrides(t.Shape)
	for i := range want {
		if t.Shape[i] != 1 && t.Strides[i] != want[i] {
			return false
		}
	}
	return true
}

// Checkpoint is an opened checkpoint file.
type Checkpoint struct {
	Name     string // file name used in messages
	Format   string
	Size     int64
	Tensors  []*Tensor         // every tensor in file order
	Metadata map[string]string // safetensors __metadata__
	Root     any               // torch formats: the unpickled container tree
	Pickle   *PickleReport     // torch formats: globals and calls the pickle names
	Notes    []string          // non-fatal observations (lenient reads, odd entries)
	Scan     *ScanReport       // full static safety scan (every pickle, zip structure)
	GGUF     *GGUFFile         // GGUF files: version, alignment, KV metadata
	// HeaderSHA256 is the sha256 of the metadata that describes the
	// tensors: the safetensors JSON header, the zip's data.pkl, or the
	// legacy object pickle (provenance for converted files).
	HeaderSHA256 string

	WeightsRoot  string   // container path of the state dict a user means ("" = top level)
	Alternatives []string // other plausible weights roots

	r         io.ReaderAt
	fp8Mu     sync.Mutex // guards fp8Layout
	fp8Layout *fp8Layout // stored.go: the scaled-fp8 layout, once detected
}

// Open sniffs the format and reads the metadata of a checkpoint.
// name is used in error messages only.
func Open(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	return opened(r, size, name, func() (*Checkpoint, error) {
		kind, h := format.Sniff(r, size)
		switch {
		case kind == nil || kind.Name == format.Pickle && h.B[0] != 0x80:
			return nil, ferr(name, ErrFormat, "offset 0", "not a PyTorch zip, PyTorch legacy pickle or safetensors file (starts with %q)", h.B[:min(len(h.B), 16)])
		case kind.Refuse != "":
			return nil, kind.Refusal(name)
		case kind.Name == format.Zip:
			return openTorchZip(r, size, name)
		case kind.Name == format.Pickle:
			return openLegacy(r, size, name)
		case kind.Name == format.Safetensors:
			return openSafetensors(r, size, name)
		case kind.Name == format.GGUF: // gguf.go
			return openGGUF(r, size, name, GGUFOptions{})
		case kind.Name == format.TorchTar:
			return nil, ferr(name, ErrUnsupported, "", "legacy tar checkpoint (PyTorch ≤ 0.1.x) is not supported: re-save it with a newer torch.save")
		}
		return nil, ferr(name, ErrUnsupported, "", "%s: ditkit scans it (ditkit scan) but does not read tensors from it", kind.What)
	})
}

// opened runs a format reader (read) on a non-empty file, turns a panic on
// malformed input into an error naming the file, and finishes what every
// opened checkpoint gets: its name, size and reader, the weights root and
// the safety scan.
func opened(r io.ReaderAt, size int64, name string, read func() (*Checkpoint, error)) (ck *Checkpoint, err error) {
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, ferr(name, ErrCorrupt, "", "reader failed on malformed input: %v", p)
		}
	}()
	if size <= 0 {
		return nil, ferr(name, ErrFormat, "", "empty file")
	}
	if ck, err = read(); err != nil {
		return nil, err
	}
	ck.Name, ck.Size, ck.r = name, size, r
	ck.chooseWeightsRoot()
	ck.attachScan(r, size)
	return ck, nil
}

// Tensor returns the tensor with the given full name, or nil.
func (c *Checkpoint) Tensor(name string) *Tensor {
	for _, t := range c.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Weights returns the tensors under the weights root with the root prefix
// removed from their names (in file order). The returned handles are copies.
func (c *Checkpoint) Weights() []*Tensor { return c.Under(c.WeightsRoot) }

// Under returns the tensors below container path root, names relative to it.
func (c *Checkpoint) Under(root string) []*Tensor {
	var out []*Tensor
	pre := root
	if pre != "" {
		pre += "/"
	}
	for _, t := range c.Tensors {
		if strings.HasPrefix(t.Name, pre) {
			cp := *t
			cp.Name = t.Name[len(pre):]
			out = append(out, &cp)
		}
	}
	return out
}

// preferred weights roots, most preferred first (DiT's find_model takes "ema").
var preferredRoots = []string{"ema", "state_dict_ema", "model_ema", "ema_model", "module", "state_dict", "model", "net", "params", "weights"}

var nonWeightRoots = map[string]bool{"opt": true, "optimizer": true, "optimizer_state": true, "scheduler": true, "lr_scheduler": true, "scaler": true, "args": true, "config": true}

// chooseWeightsRoot picks the state dict a user means and lists alternatives.
func (c *Checkpoint) chooseWeightsRoot() {
	counts := map[string]int{}
	top := 0
	for _, t := range c.Tensors {
		i := strings.IndexByte(t.Name, '/')
		if i < 0 {
			top++
			continue
		}
		counts[t.Name[:i]]++
	}
	if len(counts) == 0 || top > 0 && top >= len(c.Tensors)/2 {
		c.WeightsRoot = ""
		return
	}
	var cands []string
	for k := range counts {
		if !nonWeightRoots[strings.ToLower(k)] {
			cands = append(cands, k)
		}
	}
	sort.Strings(cands)
	best := ""
	for _, p := range preferredRoots {
		if counts[p] > 0 {
			best = p
			break
		}
	}
	if best == "" && len(cands) > 0 {
		best = cands[0]
		for _, k := range cands {
			if counts[k] > counts[best] {
				best = k
			}
		}
	}
	if best == "" { // only optimizer-like subtrees
		c.WeightsRoot = ""
		return
	}
	c.WeightsRoot = best
	for _, k := range cands {
		if k != best {
			c.Alternatives = append(c.Alternatives, k)
		}
	}
	if top > 0 {
		c.Alternatives = append(c.Alternatives, "")
	}
}

// SetWeightsRoot switches the weights root; it must be "" or a container
// path holding tensors.
func (c *Checkpoint) SetWeightsRoot(root string) error {
	root = strings.Trim(root, "/")
	if len(c.Under(root)) == 0 {
		return fmt.Errorf("%s: no tensors under %q", c.Name, root)
	}
	c.WeightsRoot = root
	return nil
}
