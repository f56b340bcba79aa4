package scan

import (
	"fmt"
	"io"
	"sync"

	"github.com/ditkit/ditkit/loader/format"
)

// GGUFDataEnd validates a GGUF file's header and tensor infos (GGUF holds
// no code, but a hostile header is bad input) and returns where the last
// tensor's data ends and the file's alignment. The GGUF reader lives in
// package loader, which imports this package, so loader registers it
// (RegisterGGUF) instead of this package importing it.
type GGUFDataEnd func(r io.ReaderAt, size int64, name string) (end, alignment int64, err error)

var (
	ggufMu  sync.RWMutex
	ggufEnd GGUFDataEnd
)

// RegisterGGUF sets the GGUF header validator (package loader calls it in
// its init).
func RegisterGGUF(f GGUFDataEnd) {
	ggufMu.Lock()
	ggufEnd = f
	ggufMu.Unlock()
}

// scanGGUF validates the header through the registered reader and looks
// at the bytes after the last tensor.
func (s *scanner) scanGGUF(r io.ReaderAt, size int64) {
	ggufMu.RLock()
	f := ggufEnd
	ggufMu.RUnlock()
	if f == nil {
		s.setFatal(format.Errorf(s.file, format.ErrUnsupported, "", "a GGUF file: its header is validated by package loader's GGUF reader, which this program does not link"))
		return
	}
	end, align, err := f(r, size, s.file)
	if err != nil {
		s.setFatal(err)
		return
	}
	// Alignment padding after the last tensor is normal; more than one
	// alignment unit, or bytes that start like a payload, are reported.
	if end < size && (size-end >= align || !zeroTail(r, end, size)) {
		s.trailer(r, end, size, fmt.Sprintf("offset %d", end), "the last tensor's data", "not part of any tensor (GGUF readers ignore them)")
	}
}

// zeroTail reports whether the (short) range [at, size) is all zero bytes.
func zeroTail(r io.ReaderAt, at, size int64) bool {
	b := make([]byte, min(size-at, 4096))
	n, _ := r.ReadAt(b, at)
	for _, c := range b[:n] {
		if c != 0 {
			return false
		}
	}
	return n == len(b)
}
