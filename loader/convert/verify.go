package convert

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/ditkit/ditkit/core/sha256x"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// Verify re-opens a written file with ditkit's own reader and checks
// every tensor's name, dtype, shape and sha256 against the report: the
// sha256 of the bytes re-read during the write where the reader finds the
// tensor at that range, else of the bytes it reads now.
func Verify(r io.ReaderAt, size int64, c *report.Convert) error {
	for _, w := range c.Tensors {
		if w.SHA256 == "" {
			return fmt.Errorf("the conversion ran without hashes (SkipHashes): nothing to verify against")
		}
	}
	var ck *loader.Checkpoint
	var err error
	if c.Format == "gguf" {
		ck, err = loader.OpenGGUF(r, size, c.Output, loader.GGUFOptions{Allow5D: true}) // ditkit writes fix_5d tensors
	} else {
		ck, err = loader.Open(r, size, c.Output)
	}
	if err != nil {
		return fmt.Errorf("re-reading the output: %w", err)
	}
	got := map[string]*loader.Tensor{}
	for _, t := range ck.Tensors {
		got[t.Name] = t
	}
	if len(ck.Tensors) != len(c.Tensors) {
		return fmt.Errorf("output holds %d tensors, %d were written", len(ck.Tensors), len(c.Tensors))
	}
	pre := ""
	if c.Wrap != "" {
		pre = c.Wrap + "/"
	}
	for _, w := range c.Tensors {
		t := got[pre+w.Name]
		if t == nil {
			return fmt.Errorf("output lacks tensor %q", w.Name)
		}
		if t.DType.String() != w.DType || !tensor.EqualShape(t.Shape, w.Shape) {
			return fmt.Errorf("tensor %q: output has %v %v, wrote %s %v", w.Name, t.DType, t.Shape, w.DType, w.Shape)
		}
		if w.GGUFType != "" && (t.GGUF == nil || t.GGUF.Type.String() != w.GGUFType) {
			return fmt.Errorf("tensor %q: output is not stored as %s", w.Name, w.GGUFType)
		}
	}
	// Tensors re-read while the file was written (Options.ReadBack)
	// are verified when the reader finds them exactly where they were
	// re-read. The others are read and hashed now.
	var todo []report.Written
	var ts []*loader.Tensor
	for _, w := range c.Tensors {
		if off, n, ok := storedRange(got[pre+w.Name]); ok && w.ReadBack != nil && off == w.ReadBack.Off && n == w.ReadBack.N {
			if w.ReadBack.SHA256 != w.SHA256 {
				return fmt.Errorf("tensor %q: output bytes differ from what was written", w.Name)
			}
			continue
		}
		todo = append(todo, w)
		ts = append(ts, got[pre+w.Name])
	}
	sums, err := hashTensors(ck, ts, true)
	if err != nil {
		return err
	}
	for i, w := range todo {
		if sums[i] != w.SHA256 {
			return fmt.Errorf("tensor %q: output bytes differ from what was written", w.Name)
		}
	}
	return nil
}

// HashTensors returns the sha256 of each tensor's contiguous bytes
// (strided views gathered), hex-encoded, in the order given. Two workers
// read the tensors, each taking two of about the same size together
// (sha256x interleaves their rounds on one core).
func HashTensors(ck *loader.Checkpoint, ts []*loader.Tensor) ([]string, error) {
	return hashTensors(ck, ts, false)
}

// storedRange is where a tensor's stored bytes lie in its file: the raw
// blocks of a GGUF tensor, the data of a contiguous one.
func storedRange(t *loader.Tensor) (off, n int64, ok bool) {
	if t.GGUF != nil {
		return t.GGUF.Offset, t.GGUF.Size, true
	}
	return t.FileRange()
}

// hashTensors is HashTensors; stored hashes a GGUF tensor's stored bytes
// (quantized blocks) rather than its dense (dequantized) values.
func hashTensors(ck *loader.Checkpoint, ts []*loader.Tensor, stored bool) ([]string, error) {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return ts[order[i]].NBytes() > ts[order[j]].NBytes() })
	sums := make([]string, len(ts))
	jobs := make(chan [2]int)
	errs := make(chan error, len(ts))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs := [2][]byte{make([]byte, loader.StreamChunk), make([]byte, loader.StreamChunk)}
			for pair := range jobs {
				var two [2]*loader.Tensor
				for k, i := range pair {
					if i >= 0 {
						two[k] = ts[i]
					}
				}
				got, err := hashPair(ck, two, bufs, stored)
				if err != nil {
					errs <- err
					continue
				}
				for k, i := range pair {
					if i >= 0 {
						sums[i] = got[k]
					}
				}
			}
		}()
	}
	for i := 0; i < len(order); i += 2 {
		pair := [2]int{order[i], -1}
		if i+1 < len(order) {
			pair[1] = order[i+1]
		}
		jobs <- pair
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return sums, nil
}

// hashPair reads one or two tensors (ts[1] may be nil) in chunks and
// returns their sha256.
func hashPair(ck *loader.Checkpoint, ts [2]*loader.Tensor, bufs [2][]byte, stored bool) ([2]string, error) {
	var hs [2]*sha256x.Digest
	var size, pos [2]int64
	raw := [2]bool{}
	for k, t := range ts {
		if t != nil {
			hs[k], size[k] = sha256x.New(), t.NBytes()
			if stored && t.GGUF != nil {
				raw[k], size[k] = true, t.GGUF.Size
			}
		}
	}
	for pos[0] < size[0] || pos[1] < size[1] {
		var chunk [2][]byte
		for k, t := range ts {
			if pos[k] < size[k] {
				es := int64(t.DType.Size())
				m := min(int64(len(bufs[k]))/es*es, size[k]-pos[k])
				read := ck.ReadTensorAt
				if raw[k] {
					read = ck.ReadGGUFRaw
				}
				if err := read(t, bufs[k][:m], pos[k]); err != nil {
					return [2]string{}, err
				}
				chunk[k] = bufs[k][:m]
				pos[k] += m
			}
		}
		if hs[1] == nil {
			hs[0].Write(chunk[0])
		} else {
			sha256x.Write2(hs[0], chunk[0], hs[1], chunk[1])
		}
	}
	var out [2]string
	for k, h := range hs {
		if h != nil {
			out[k] = hex.EncodeToString(h.Sum(nil))
		}
	}
	return out, nil
}
