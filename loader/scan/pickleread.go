package scan

import (
	"bytes"

	"github.com/ditkit/ditkit/loader/format"
)

// How CPython reads a pickle, and where its readers disagree.
//
// A reader of bytes (pickle.loads, the C unpickler over a bytes object,
// PyTorch's weights_only unpickler, and every static scanner) reads
// opcodes and their arguments straight through: protocol-4 FRAMEs are only
// a hint. The C unpickler reading a file without peek() — torch.load reads
// data.pkl from an io.BytesIO — loads each FRAME into a buffer, and when an
// opcode's argument runs past the end of that buffer it reads the argument
// afresh from the file, after the frame: the rest of the frame is dropped
// and the two readers run different opcodes from there on (CPython ≥ 3.13
// and the pure-Python unpickler reject such a stream instead). The walker
// reads the bytes view and notes every read that crosses a FRAME's end; on
// such a pickle it walks again as the file reader does (fileView) and
// reports what only that reader runs.

// readN returns the next n bytes the unpickler reads with one
// _Unpickler_Read call (an opcode, a length, a fixed-size argument, a
// counted string).
func (s *pickleScan) readN(n int64, base int64, what string) ([]byte, error) {
	b, err := s.take(n, base, what)
	if err == nil {
		s.traced(b)
	}
	return b, err
}

// traced adds a read to the trace, which two readers of the same pickle
// share only when they read the same bytes from the same offsets.
func (s *pickleScan) traced(b []byte) {
	off := uint64(cap(s.data) - cap(b)) // where b starts in data
	s.trace = (s.trace^off<<20^uint64(len(b)))*0x100000001b3 + 1
}

// take is readN without the trace (FRAME's buffering is not a read of
// the stream).
func (s *pickleScan) take(n int64, base int64, what string) ([]byte, error) {
	if n < 0 || n > MaxPickleString {
		return nil, s.errf(base, format.ErrLimit, "%s of %d bytes exceeds the limit of %d", what, n, MaxPickleString)
	}
	if !s.fileView {
		if int64(len(s.data)-s.pos) < n {
			return nil, s.errf(base, format.ErrTruncated, "%s needs %d bytes, %d remain", what, n, len(s.data)-s.pos)
		}
		b := s.data[s.pos : s.pos+int(n)]
		s.pos += int(n)
		return b, nil
	}
	if int64(s.bufEnd-s.pos) >= n {
		b := s.data[s.pos : s.pos+int(n)]
		s.pos += int(n)
		return b, nil
	}
	// past the buffered frame: what is left of it is dropped, the read
	// goes to the file
	if int64(len(s.data)-s.filePos) < n {
		return nil, s.errf(base, format.ErrTruncated, "%s needs %d bytes, %d remain in the file", what, n, len(s.data)-s.filePos)
	}
	b := s.data[s.filePos : s.filePos+int(n)]
	s.filePos += int(n)
	s.bufEnd, s.pos = s.filePos, s.filePos
	return b, nil
}

// readInto returns a bytes/bytearray payload: the C unpickler copies what
// is left of the buffer and reads the rest from the file
// (_Unpickler_ReadInto), so in the file view too the payload is contiguous.
func (s *pickleScan) readInto(n int64, base int64, what string) ([]byte, error) {
	if !s.fileView {
		return s.readN(n, base, what)
	}
	if n < 0 || n > MaxPickleString {
		return nil, s.errf(base, format.ErrLimit, "%s of %d bytes exceeds the limit of %d", what, n, MaxPickleString)
	}
	avail := int64(s.bufEnd - s.pos)
	if avail >= n {
		return s.readN(n, base, what)
	}
	rest := n - avail
	if int64(len(s.data)-s.filePos) < rest {
		return nil, s.errf(base, format.ErrTruncated, "%s needs %d bytes, %d remain in the file", what, n, avail+int64(len(s.data)-s.filePos))
	}
	// avail > 0 only while the buffer ends at the file position
	b := s.data[s.filePos-int(avail) : s.filePos+int(rest)]
	s.pos = s.bufEnd
	s.filePos += int(rest)
	s.traced(b)
	return b, nil
}

// readLine returns a text argument without its newline (at most limit
// bytes).
func (s *pickleScan) readLine(base int64, limit int64) ([]byte, error) {
	from, end := s.pos, len(s.data)
	if s.fileView {
		end = s.bufEnd
	}
	if i := lineEnd(s.data[from:end], limit); i >= 0 {
		s.pos = from + i + 1
		s.traced(s.data[from:s.pos])
		return s.data[from : from+i], nil
	} else if i == -2 {
		return nil, s.errf(base, format.ErrLimit, "text argument longer than %d bytes", limit)
	}
	if !s.fileView {
		return nil, s.errf(base, format.ErrTruncated, "unterminated text argument")
	}
	// file view: the line does not end inside the buffer, so readline()
	// reads it from the file, after the buffer
	i := lineEnd(s.data[s.filePos:], limit)
	if i == -2 {
		return nil, s.errf(base, format.ErrLimit, "text argument longer than %d bytes", limit)
	}
	if i < 0 {
		return nil, s.errf(base, format.ErrTruncated, "unterminated text argument")
	}
	from = s.filePos
	s.filePos += i + 1
	s.bufEnd, s.pos = s.filePos, s.filePos
	s.traced(s.data[from:s.pos])
	return s.data[from : from+i], nil
}

// lineEnd is the index of the first '\n' in b within limit+1 bytes, -1
// when b ends first, -2 when the line is longer than limit.
func lineEnd(b []byte, limit int64) int {
	if int64(len(b)) > limit+1 {
		b = b[:limit+1]
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i
	}
	if int64(len(b)) > limit {
		return -2
	}
	return -1
}

// frame handles FRAME's argument, n bytes of framed opcodes: at is where
// the FRAME opcode sits.
func (s *pickleScan) frame(n uint64, at int, base int64) error {
	if !s.fileView {
		if n > uint64(len(s.data)-s.pos) {
			// readers allocate the declared frame before reading it
			return s.errf(base, format.ErrTruncated, "FRAME of %d bytes runs past the data (%d bytes remain)", n, len(s.data)-s.pos)
		}
		if at < s.frameEnd && s.nestedFrame < 0 {
			s.nestedFrame = at
		}
		s.frameEnd = s.pos + int(n)
		return nil
	}
	// _Unpickler_Read(frame_len), then rewind to the frame's start
	if _, err := s.take(int64(n), base, "FRAME"); err != nil {
		return err
	}
	s.pos -= int(n)
	return nil
}

// crossed notes an opcode (FRAME included) that started at opStart, inside
// a frame ending at frameEnd, and ended past it: no pickler writes one.
func (s *pickleScan) crossed(opStart, frameEnd int) {
	if opStart < frameEnd && s.pos > frameEnd && s.straddle < 0 && !s.fileView {
		s.straddle = opStart
	}
}

// frameTrouble reports whether the readers may disagree on this pickle.
func (s *pickleScan) frameTrouble() bool {
	return s.straddle >= 0 || s.nestedFrame >= 0 || s.frameEnd > s.pos
}
