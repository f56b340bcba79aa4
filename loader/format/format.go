// Package format names the file formats ditkit meets, recognises them from
// their first bytes — one sniffer, shared by the checkpoint reader
// (loader.Open) and the safety scanner (loader/scan) — and defines the
// error every reader returns for a bad file.
//
// To teach ditkit a new format, add a Kind to Kinds (before any kind whose
// test would also match it) and handle its Name in loader.Open and
// scan.Scan; a format ditkit neither reads nor scans gets a Kind with
// Refuse set, and both say that sentence instead of guessing.
package format

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
)

// Format names, as inspect and scan report them.
const (
	TorchZip    = "torch-zip"    // torch.save ≥ 1.6: a zip with <root>/data.pkl
	TorchLegacy = "torch-legacy" // torch.save < 1.6: stacked pickles, then raw storages
	TorchTar    = "torch-tar"    // torch ≤ 0.1: a tar of pickles and storages
	TorchScript = "torchscript"  // torch.jit.save: a zip with code/ and constants.pkl
	Safetensors = "safetensors"
	Sharded     = "sharded" // a set opened through its *.index.json
	Pickle      = "pickle"  // one or more bare pickles (no torch.save magic number)
	Zip         = "zip"     // a zip that is none of the above
	SevenZip    = "7z"
	NPY         = "npy"  // numpy.save: one array; object arrays are a pickle
	NPZ         = "npz"  // numpy.savez[_compressed]: a zip of .npy files
	GGUF        = "gguf" // ggml's GGUF (ComfyUI-GGUF, stable-diffusion.cpp, llama.cpp)
)

// HeadSize is how many leading bytes Sniff reads (a tar header is 512).
const HeadSize = 512

// Head is the start of a file, as the sniffer's tests see it.
type Head struct {
	B    []byte // the first min(Size, HeadSize) bytes
	Size int64
}

// LE64 is the little-endian uint64 at the start, or 0 when there are fewer
// than 8 bytes.
func (h *Head) LE64() uint64 {
	if len(h.B) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(h.B)
}

// Kind is one format the sniffer recognises.
type Kind struct {
	Name  string           // a format name above, or the foreign format's name
	What  string           // in words, for messages ("a NumPy .npy array")
	Match func(*Head) bool // true when the head is this format
	// Refuse is set for formats ditkit neither reads nor scans: the
	// one-line reason both give.
	Refuse string
}

func prefix(p string) func(*Head) bool {
	return func(h *Head) bool { return bytes.HasPrefix(h.B, []byte(p)) }
}

func foreign(name, what, magic string) Kind {
	return Kind{Name: name, What: what, Match: prefix(magic), Refuse: what + ": not a format ditkit reads or scans"}
}

// Kinds is the sniffer's table, tried in order; the first match wins.
var Kinds = []Kind{
	{Name: Zip, What: "a zip archive", Match: func(h *Head) bool {
		return bytes.HasPrefix(h.B, []byte(ZipLocalMagic)) || bytes.HasPrefix(h.B, []byte(ZipEndMagic))
	}},
	{Name: SevenZip, What: "a 7-Zip archive", Match: prefix("7z\xbc\xaf\x27\x1c")},
	{Name: lfsPointer, What: "a Git LFS pointer file", Match: prefix("version https://"),
		Refuse: "this is a Git LFS pointer file, not the checkpoint: fetch the real file (git lfs pull)"},
	{Name: TorchTar, What: "a tar archive", Match: func(h *Head) bool { return len(h.B) >= 512 && TarChecksumOK(h.B[:512]) }},
	{Name: Safetensors, What: "a safetensors file", Match: func(h *Head) bool {
		return len(h.B) >= 9 && h.B[8] == '{' && h.LE64() < 1<<40
	}},
	{Name: NPY, What: "a NumPy .npy array", Match: prefix(NPYMagic)},
	// foreign magic numbers go before the pickle test: "GGUF" and "BZh"
	// would otherwise pass for protocol-0 opcodes
	foreign("hdf5", "an HDF5 file (Keras .h5 and similar)", "\x89HDF\r\n\x1a\n"),
	// "GGU" and any fourth byte: a near miss ("GGUG") is a damaged GGUF
	// file, and the GGUF reader says so
	{Name: GGUF, What: "a GGUF file", Match: func(h *Head) bool { return len(h.B) >= 4 && string(h.B[:3]) == "GGU" }},
	foreign("gzip", "a gzip-compressed file", "\x1f\x8b"),
	foreign("bzip2", "a bzip2-compressed file", "BZh"),
	foreign("xz", "an xz-compressed file", "\xfd7zXZ\x00"),
	foreign("zstd", "a zstd-compressed file", "\x28\xb5\x2f\xfd"),
	foreign("rar", "a RAR archive", "Rar!\x1a\x07"),
	foreign("png", "a PNG image", "\x89PNG\r\n\x1a\n"),
	{Name: "tflite", What: "a TensorFlow Lite model", Match: func(h *Head) bool { return len(h.B) >= 8 && string(h.B[4:8]) == "TFL3" },
		Refuse: "a TensorFlow Lite model: not a format ditkit reads or scans"},
	{Name: Pickle, What: "a pickle", Match: func(h *Head) bool { return PickleStart(h.B) }},
	// eight bytes that can only be a safetensors header length: a
	// truncated file, which the safetensors reader explains
	{Name: Safetensors, What: "a safetensors file", Match: func(h *Head) bool { return len(h.B) == 8 && h.LE64() < 1<<40 }},
}

// Refusal is the error for a Kind with Refuse set: ErrFormat for a file
// that is not what its name says (an LFS pointer), ErrUnsupported for a
// format ditkit does not handle.
func (k *Kind) Refusal(file string) error {
	sentinel := ErrUnsupported
	if k.Name == lfsPointer {
		sentinel = ErrFormat
	}
	return Errorf(file, sentinel, "", "%s", k.Refuse)
}

const lfsPointer = "git-lfs-pointer"

// Sniff reads the head of a file and returns the first Kind that matches,
// or nil when none does.
func Sniff(r io.ReaderAt, size int64) (*Kind, *Head) {
	n := min(size, HeadSize)
	if n < 0 {
		n = 0
	}
	b := make([]byte, n)
	got, _ := r.ReadAt(b, 0)
	h := &Head{B: b[:got], Size: size}
	for i := range Kinds {
		if Kinds[i].Match(h) {
			return &Kinds[i], h
		}
	}
	return nil, h
}

// Magic numbers shared by the readers and the scanner.
const (
	ZipLocalMagic   = "PK\x03\x04"
	ZipCentralMagic = "PK\x01\x02"
	ZipEndMagic     = "PK\x05\x06"
	NPYMagic        = "\x93NUMPY"
)

// PickleStart reports whether b starts like a pickle: a PROTO opcode with a
// known protocol, or a protocol 0/1 opcode that pushes a value.
func PickleStart(b []byte) bool {
	if len(b) < 2 {
		return false
	}
	if b[0] == 0x80 {
		return b[1] <= 5
	}
	return strings.IndexByte("(c]})NIKJMGLFSVXUTBCig", b[0]) >= 0
}

// TarChecksumOK reports whether a 512-byte block is a tar header with a
// valid checksum (what Python's tarfile, and so torch.load, accepts).
func TarChecksumOK(h []byte) bool {
	if len(h) < 512 {
		return false
	}
	want, ok := TarOctal(h[148:156])
	if !ok {
		return false
	}
	var u, sgn int64
	for i, c := range h[:512] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		u += int64(c)
		sgn += int64(int8(c))
	}
	return u != 8*' ' && (want == u || want == sgn)
}

// TarOctal parses a tar numeric field (octal text or GNU base-256).
func TarOctal(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 { // base-256
		var v int64
		for i, c := range b {
			if i == 0 {
				c &= 0x7f
			}
			if v > 1<<55 {
				return 0, false
			}
			v = v<<8 | int64(c)
		}
		return v, true
	}
	t := strings.Trim(string(b), " \x00")
	if t == "" {
		return 0, true
	}
	v, err := strconv.ParseInt(t, 8, 64)
	return v, err == nil && v >= 0
}
