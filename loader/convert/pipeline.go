package convert

import (
	"encoding/hex"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ditkit/ditkit/core/sha256x"
	"github.com/ditkit/ditkit/loader/report"
)

// pipeline is the writer a conversion streams into. It copies the stream
// into blocks; one goroutine hashes the byte range of every tensor
// registered with mark, another writes the blocks to w. Casting, hashing
// and the write syscalls so run on different cores, and the hashes are of
// exactly the bytes written.
//
// With a read-back file (the file w writes, from its start), the hashing
// goroutine also re-reads the ranges the writer has finished from that
// file and hashes them paired with the bytes it hashes anyway (sha256x
// runs two messages' rounds together): most of the output's verification
// is done by the time the last byte is written, for less CPU than hashing
// the two one after the other.
type pipeline struct {
	block int
	cur   []byte
	n     int64 // stream bytes accepted

	mu     sync.Mutex
	ranges []hashRange // in stream order; registered before their bytes arrive

	hashQ   chan pipeBlock
	writeQ  chan pipeBlock
	free    chan []byte
	done    chan struct{}
	flushed atomic.Int64          // stream bytes the writer has written
	werr    atomic.Pointer[error] // the first write error
	closed  bool

	// read-back state, owned by the hashing goroutine until Close returns
	back    io.ReaderAt
	backBuf []byte
	backIdx int   // range being re-read
	backOff int64 // next stream offset to re-read in it
	backH   *sha256x.Digest
	rereads []string // sha256 of ranges 0, 1, … as re-read from the file
}

type pipeBlock struct {
	off int64
	b   []byte
}

type hashRange struct {
	start, end int64
	h          *sha256x.Digest
}

func newPipeline(w io.Writer, readBack io.ReaderAt, block, depth int) *pipeline {
	p := &pipeline{block: block, hashQ: make(chan pipeBlock, depth), writeQ: make(chan pipeBlock, depth),
		free: make(chan []byte, 2*depth+2), done: make(chan struct{}), back: readBack}
	for range 2*depth + 2 {
		p.free <- make([]byte, 0, block)
	}
	if readBack != nil {
		p.backBuf = make([]byte, block)
	}
	p.cur = <-p.free
	go p.hashLoop()
	go p.writeLoop(w)
	return p
}

// mark registers the next n stream bytes as one tensor's data and returns
// its index for hashOf and rereadOf.
func (p *pipeline) mark(n int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ranges = append(p.ranges, hashRange{start: p.n, end: p.n + n, h: sha256x.New()})
	return len(p.ranges) - 1
}

// hashOf is the sha256 of range i's bytes (after Close).
func (p *pipeline) hashOf(i int) string { return hex.EncodeToString(p.ranges[i].h.Sum(nil)) }

// rereadOf is the sha256 of range i as re-read from the read-back file
// ("" when it was not) and where the range lies (after Close).
func (p *pipeline) rereadOf(i int) (sum string, off, n int64) {
	r := p.ranges[i]
	if i < len(p.rereads) {
		sum = p.rereads[i]
	}
	return sum, r.start, r.end - r.start
}

func (p *pipeline) Write(b []byte) (int, error) {
	if e := p.werr.Load(); e != nil {
		return 0, *e
	}
	n := len(b)
	for len(b) > 0 {
		k := copy(p.cur[len(p.cur):p.block], b)
		p.cur = p.cur[:len(p.cur)+k]
		p.n += int64(k)
		b = b[k:]
		if len(p.cur) == p.block {
			p.hashQ <- pipeBlock{p.n - int64(len(p.cur)), p.cur}
			p.cur = <-p.free
		}
	}
	return n, nil
}

func (p *pipeline) hashLoop() {
	next := 0 // first range that may still get bytes
	for blk := range p.hashQ {
		end := blk.off + int64(len(blk.b))
		p.mu.Lock()
		rs := p.ranges
		p.mu.Unlock()
		for i := next; i < len(rs) && rs[i].start < end; i++ {
			r := rs[i]
			lo, hi := max(r.start, blk.off), min(r.end, end)
			if lo < hi {
				p.hash(r.h, blk.b[lo-blk.off:hi-blk.off], rs)
			}
			if r.end <= end && i == next {
				next++
			}
		}
		p.writeQ <- blk
	}
	close(p.writeQ)
}

// hash feeds data to h, paired with re-read bytes while there are some.
func (p *pipeline) hash(h *sha256x.Digest, data []byte, rs []hashRange) {
	for len(data) > 0 {
		back, bh := p.backChunk(len(data), rs)
		if back == nil {
			h.Write(data)
			return
		}
		k := len(back)
		sha256x.Write2(h, data[:k], bh, back)
		data = data[k:]
	}
}

// backChunk re-reads up to n bytes of the first range not yet re-read,
// if the writer has written all of it, and returns them with the digest
// they belong to; nil when there is nothing to re-read yet.
func (p *pipeline) backChunk(n int, rs []hashRange) ([]byte, *sha256x.Digest) {
	if p.back == nil {
		return nil, nil
	}
	flushed := p.flushed.Load()
	for p.backIdx < len(rs) {
		r := rs[p.backIdx]
		if r.end > flushed {
			return nil, nil
		}
		if p.backH == nil {
			p.backH, p.backOff = sha256x.New(), r.start
		}
		if p.backOff == r.end {
			p.rereads = append(p.rereads, hex.EncodeToString(p.backH.Sum(nil)))
			p.backH = nil
			p.backIdx++
			continue
		}
		m := min(int64(n), int64(len(p.backBuf)), r.end-p.backOff)
		if k, _ := p.back.ReadAt(p.backBuf[:m], p.backOff); int64(k) != m {
			p.back = nil // Verify reads this range and the rest itself
			return nil, nil
		}
		p.backOff += m
		return p.backBuf[:m], p.backH
	}
	return nil, nil
}

func (p *pipeline) writeLoop(w io.Writer) {
	var err error
	for blk := range p.writeQ {
		if err == nil {
			var n int
			n, err = w.Write(blk.b)
			if err == nil && n < len(blk.b) {
				err = io.ErrShortWrite
			}
			if err != nil {
				p.werr.Store(&err)
			} else {
				p.flushed.Add(int64(n))
			}
		}
		p.free <- blk.b[:0]
	}
	close(p.done)
}

// Close sends what is buffered, waits for the hashes and the writes, and
// returns the first write error. A range whose re-read was under way and
// is complete gets its hash; later ones are left to Verify.
func (p *pipeline) Close() error {
	if !p.closed {
		p.closed = true
		if len(p.cur) > 0 {
			p.hashQ <- pipeBlock{p.n - int64(len(p.cur)), p.cur}
		}
		close(p.hashQ)
		<-p.done
		if p.backH != nil && p.backIdx < len(p.ranges) && p.backOff == p.ranges[p.backIdx].end {
			p.rereads = append(p.rereads, hex.EncodeToString(p.backH.Sum(nil)))
		}
	}
	if e := p.werr.Load(); e != nil {
		return *e
	}
	return nil
}

// finish closes the pipeline (nil: none) after a write that returned
// err, and returns err or else the pipeline's write error.
func (p *pipeline) finish(err error) error {
	if p == nil {
		return err
	}
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	return err
}

// hashInto records range mark's sha256 (and its re-read) in w; nothing
// without a pipeline or a mark.
func (p *pipeline) hashInto(w *report.Written, mark int) {
	if p == nil || mark < 0 {
		return
	}
	w.SHA256 = p.hashOf(mark)
	if sum, off, n := p.rereadOf(mark); sum != "" {
		w.ReadBack = &report.ReadBack{Off: off, N: n, SHA256: sum}
	}
}
