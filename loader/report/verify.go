package report

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/ditkit/ditkit/core/sha256x"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// VerifyOutput re-opens a written file with ditkit's own reader and checks
// every tensor's name, dtype, shape and sha256 against the report: the
// sha256 of the bytes re-read during the write where the reader finds the
// tensor at that range, else of the bytes it reads now.
func VerifyOutput(r io.ReaderAt, size int64, c *Convert) error {
	for _, w := range c.Tensors {
		if w.SHA256 == "" {
			return fmt.Errorf("the conversion ran without hashes (SkipHashes): nothing to verify against")
		}
	}
	ck, err := loader.Open(r, size, c.Output)
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
	}
	// Tensors re-read while the file was written (ConvertOptions.ReadBack)
	// are verified when the reader finds them exactly where they were
	// re-read. The others are read now and hashed on two workers, each
	// taking two tensors of about the same size together (sha256x
	// interleaves their rounds on one core).
	var order []Written
	for _, w := range c.Tensors {
		if off, n, ok := got[pre+w.Name].FileRange(); ok && w.reread != "" && off == w.off && n == w.n {
			if w.reread != w.SHA256 {
				return fmt.Errorf("tensor %q: output bytes differ from what was written", w.Name)
			}
			continue
		}
		order = append(order, w)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return got[pre+order[i].Name].NBytes() > got[pre+order[j].Name].NBytes()
	})
	jobs := make(chan [2]*Written)
	errs := make(chan error, len(c.Tensors))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bufs := [2][]byte{make([]byte, loader.StreamChunk), make([]byte, loader.StreamChunk)}
			for pair := range jobs {
				if err := verifyPair(ck, got, pre, pair, bufs); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < len(order); i += 2 {
		pair := [2]*Written{&order[i], nil}
		if i+1 < len(order) {
			pair[1] = &order[i+1]
		}
		jobs <- pair
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return nil
}

// verifyPair re-reads one or two written tensors (pair[1] may be nil) in
// chunks and compares their sha256 with what was written.
func verifyPair(ck *loader.Checkpoint, got map[string]*loader.Tensor, pre string, pair [2]*Written, bufs [2][]byte) error {
	var ts [2]*loader.Tensor
	var hs [2]*sha256x.Digest
	var size [2]int64
	for k, w := range pair {
		if w != nil {
			ts[k], hs[k] = got[pre+w.Name], sha256x.New()
			size[k] = ts[k].NBytes()
		}
	}
	var pos [2]int64
	for pos[0] < size[0] || pos[1] < size[1] {
		var chunk [2][]byte
		for k := range pair {
			if pos[k] < size[k] {
				es := int64(ts[k].DType.Size())
				m := min(int64(len(bufs[k]))/es*es, size[k]-pos[k])
				if err := ck.ReadTensorAt(ts[k], bufs[k][:m], pos[k]); err != nil {
					return err
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
	for k, w := range pair {
		if w != nil && hex.EncodeToString(hs[k].Sum(nil)) != w.SHA256 {
			return fmt.Errorf("tensor %q: output bytes differ from what was written", w.Name)
		}
	}
	return nil
}
