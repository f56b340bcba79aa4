package report

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// pipeline is the writer a conversion streams into. It copies the stream
// into blocks; one goroutine hashes the byte range of every tensor
// registered with mark, another writes the blocks to w. Casting, hashing
// and the write syscalls so run on different cores, and the hashes are of
// exactly the bytes written.
type pipeline struct {
	block int
	cur   []byte
	n     int64 // stream bytes accepted

	mu     sync.Mutex
	ranges []hashRange // in stream order; registered before their bytes arrive

	hashQ  chan pipeBlock
	writeQ chan pipeBlock
	free   chan []byte
	done   chan struct{}
	werr   atomic.Pointer[error] // the first write error
	closed bool
}

type pipeBlock struct {
	off int64
	b   []byte
}

type hashRange struct {
	start, end int64
	h          hash.Hash
}

func newPipeline(w io.Writer, block, depth int) *pipeline {
	p := &pipeline{block: block, hashQ: make(chan pipeBlock, depth), writeQ: make(chan pipeBlock, depth),
		free: make(chan []byte, 2*depth+2), done: make(chan struct{})}
	for range 2*depth + 2 {
		p.free <- make([]byte, 0, block)
	}
	p.cur = <-p.free
	go p.hashLoop()
	go p.writeLoop(w)
	return p
}

// mark registers the next n stream bytes as one tensor's data and returns
// the hash that will hold their sha256 once the pipeline is closed.
func (p *pipeline) mark(n int64) hash.Hash {
	h := sha256.New()
	p.mu.Lock()
	p.ranges = append(p.ranges, hashRange{p.n, p.n + n, h})
	p.mu.Unlock()
	return h
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
				r.h.Write(blk.b[lo-blk.off : hi-blk.off])
			}
			if r.end <= end && i == next {
				next++
			}
		}
		p.writeQ <- blk
	}
	close(p.writeQ)
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
			}
		}
		p.free <- blk.b[:0]
	}
	close(p.done)
}

// Close sends what is buffered, waits for the hashes and the writes, and
// returns the first write error.
func (p *pipeline) Close() error {
	if !p.closed {
		p.closed = true
		if len(p.cur) > 0 {
			p.hashQ <- pipeBlock{p.n - int64(len(p.cur)), p.cur}
		}
		close(p.hashQ)
		<-p.done
	}
	if e := p.werr.Load(); e != nil {
		return *e
	}
	return nil
}
