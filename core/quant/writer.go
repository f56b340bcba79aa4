package quant

import (
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// Writer quantizes a stream of source elements (little-endian, of one
// float dtype) into blocks of one ggml type and writes them on. Every
// block depends only on its own elements, so the bytes equal one
// Quantize call over the whole stream (ggml's quantize_row_*_ref with
// k = numel) however the stream is cut. Pieces of a chunk are quantized
// on Workers goroutines; memory is a few chunk buffers, never the tensor.
type Writer struct {
	t       Type
	from    tensor.DType
	w       io.Writer
	workers int
	piece   int // elements per worker piece, a whole number of blocks
	stats   bool

	in    []byte // pending source bytes
	f32   []float32
	out   []byte
	back  []float32 // dequantized pieces (stats)
	part  []ErrorStats
	total ErrorStats
	n     int64 // elements written
	err   error
}

// WriterOptions tune a Writer.
type WriterOptions struct {
	// Workers quantize pieces of a chunk in parallel (0 or 1: on the
	// caller's goroutine).
	Workers int
	// Piece is the number of elements one worker quantizes at a time,
	// rounded up to whole blocks (0: 64 Ki elements).
	Piece int
	// Stats dequantizes what was written and accumulates the error
	// against the source (Writer.Stats).
	Stats bool
}

// ErrorStats is the absolute dequantization error of quantized values
// against their source, over the finite source values.
type ErrorStats struct {
	Max float64 // largest |dequantized − source|
	Sum float64 // sum of |dequantized − source|
	N   int64   // finite source values compared
	// NonFinite counts source values that are NaN or ±inf (not compared).
	NonFinite int64
	// Overflow counts finite source values whose quantized value is not
	// finite (beyond F16's 65504, say); they are not in Max or Sum.
	Overflow int64
}

// Mean is Sum / N (0 when nothing was compared).
func (e ErrorStats) Mean() float64 {
	if e.N == 0 {
		return 0
	}
	return e.Sum / float64(e.N)
}

// Add merges o into e.
func (e *ErrorStats) Add(o ErrorStats) {
	e.Max = max(e.Max, o.Max)
	e.Sum += o.Sum
	e.N += o.N
	e.NonFinite += o.NonFinite
	e.Overflow += o.Overflow
}

// NewWriter returns a Writer that quantizes elements of from into t.
func NewWriter(t Type, from tensor.DType, w io.Writer, opt WriterOptions) (*Writer, error) {
	if !t.CanQuantize() {
		return nil, fmt.Errorf("quantize: %v is not supported", t)
	}
	if !from.IsFloat() || from.Size() == 0 {
		return nil, fmt.Errorf("quantize: source dtype %v is not a float type", from)
	}
	if opt.Stats && !t.CanDequantize() {
		return nil, fmt.Errorf("quantize: %v cannot be dequantized for error statistics", t)
	}
	bs := t.BlockSize()
	piece := opt.Piece
	if piece <= 0 {
		piece = 64 << 10
	}
	piece = (piece + bs - 1) / bs * bs
	workers := max(1, opt.Workers)
	return &Writer{t: t, from: from, w: w, workers: workers, piece: piece, stats: opt.Stats}, nil
}

func (q *Writer) chunkElems() int { return q.workers * q.piece }

// Write takes source bytes; whole chunks are quantized and written as
// they fill.
func (q *Writer) Write(p []byte) (int, error) {
	if q.err != nil {
		return 0, q.err
	}
	n := len(p)
	es := q.from.Size()
	full := q.chunkElems() * es
	for len(p) > 0 {
		if len(q.in) == 0 && len(p) >= full {
			if err := q.flush(p[:full]); err != nil {
				return 0, err
			}
			p = p[full:]
			continue
		}
		if cap(q.in) < full {
			q.in = make([]byte, 0, full)
		}
		k := min(full-len(q.in), len(p))
		q.in = append(q.in, p[:k]...)
		p = p[k:]
		if len(q.in) == full {
			if err := q.flush(q.in); err != nil {
				return 0, err
			}
			q.in = q.in[:0]
		}
	}
	return n, nil
}

// Close quantizes what is pending; the stream must end on a block boundary.
func (q *Writer) Close() error {
	if q.err != nil {
		return q.err
	}
	es := q.from.Size()
	if len(q.in)%es != 0 {
		q.err = fmt.Errorf("quantize %v: the stream ends inside an element (%d stray bytes)", q.t, len(q.in)%es)
		return q.err
	}
	if n := len(q.in) / es; n%q.t.BlockSize() != 0 {
		q.err = fmt.Errorf("quantize %v: %d elements are not a whole number of %d-element blocks", q.t, q.n+int64(n), q.t.BlockSize())
		return q.err
	}
	if len(q.in) > 0 {
		if err := q.flush(q.in); err != nil {
			return err
		}
		q.in = q.in[:0]
	}
	return nil
}

// Elements is the number of elements quantized so far.
func (q *Writer) Elements() int64 { return q.n }

// Stats is the dequantization error so far (WriterOptions.Stats).
func (q *Writer) Stats() ErrorStats { return q.total }

// flush quantizes src (whole blocks of whole elements) and writes it.
func (q *Writer) flush(src []byte) error {
	es := q.from.Size()
	n := len(src) / es
	if cap(q.f32) < n {
		q.f32 = make([]float32, n)
	}
	x := q.f32[:n]
	if err := tensor.DecodeFloat32(q.from, src, x); err != nil {
		q.err = err
		return err
	}
	nb, _ := q.t.Bytes(int64(n))
	if int64(cap(q.out)) < nb {
		q.out = make([]byte, nb)
	}
	out := q.out[:nb]
	if q.stats && cap(q.back) < n {
		q.back = make([]float32, n)
	}
	pieces := (n + q.piece - 1) / q.piece
	if cap(q.part) < pieces {
		q.part = make([]ErrorStats, pieces)
	}
	part := q.part[:pieces]
	bpe := q.t.BlockBytes() / q.t.BlockSize() // bytes per element for block-1 types; blocks otherwise
	do := func(i int) {
		lo, hi := i*q.piece, min(n, (i+1)*q.piece)
		var blo, bhi int
		if q.t.BlockSize() == 1 {
			blo, bhi = lo*bpe, hi*bpe
		} else {
			bs, bb := q.t.BlockSize(), q.t.BlockBytes()
			blo, bhi = lo/bs*bb, hi/bs*bb
		}
		quantizers[q.t](x[lo:hi], out[blo:bhi])
		part[i] = ErrorStats{}
		if q.stats {
			back := q.back[lo:hi]
			dequantizers[q.t](out[blo:bhi], back)
			part[i] = errorOf(x[lo:hi], back)
		}
	}
	if q.workers == 1 || pieces == 1 {
		for i := range pieces {
			do(i)
		}
	} else {
		var wg sync.WaitGroup
		for i := range pieces {
			wg.Add(1)
			go func() {
				defer wg.Done()
				do(i)
			}()
		}
		wg.Wait()
	}
	for _, p := range part {
		q.total.Add(p)
	}
	q.n += int64(n)
	if _, err := q.w.Write(out); err != nil {
		q.err = err
		return err
	}
	return nil
}

// errorOf compares back with src in float32 arithmetic (|back − src| as
// an f32 subtraction, as numpy on f32 arrays computes it), summing in
// float64.
func errorOf(src, back []float32) ErrorStats {
	var e ErrorStats
	var mx float32
	const exp = 0x7f800000
	for i, v := range src {
		if math.Float32bits(v)&exp == exp {
			e.NonFinite++
			continue
		}
		b := back[i]
		if math.Float32bits(b)&exp == exp {
			e.Overflow++
			continue
		}
		d := absf(b - v)
		mx = max(mx, d)
		e.Sum += float64(d)
		e.N++
	}
	e.Max = float64(mx)
	return e
}
