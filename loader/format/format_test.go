package format_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/ditkit/ditkit/loader/format"
)

func tarHeader() []byte {
	h := make([]byte, 1024)
	copy(h, "sys_info")
	copy(h[124:], "00000000000\x00")
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h[:512] {
		sum += int(c)
	}
	copy(h[148:], []byte{byte('0' + sum>>15&7), byte('0' + sum>>12&7), byte('0' + sum>>9&7), byte('0' + sum>>6&7), byte('0' + sum>>3&7), byte('0' + sum&7), 0, ' '})
	return h
}

// The one sniffer: each format by its first bytes, in the table's order.
func TestSniff(t *testing.T) {
	st := binary.LittleEndian.AppendUint64(nil, 2)
	st = append(st, "{}"...)
	for _, c := range []struct {
		head []byte
		want string // "" for no match
	}{
		{[]byte("PK\x03\x04rest"), format.Zip},
		{[]byte("PK\x05\x06" + string(make([]byte, 18))), format.Zip},
		{[]byte("7z\xbc\xaf\x27\x1c\x00\x04"), format.SevenZip},
		{[]byte("version https://git-lfs.github.com/spec/v1\n"), "git-lfs-pointer"},
		{tarHeader(), format.TorchTar},
		{st, format.Safetensors},
		{binary.LittleEndian.AppendUint64(nil, 1<<20), format.Safetensors}, // truncated: the reader explains
		{[]byte("\x93NUMPY\x01\x00v\x00{'descr'"), format.NPY},
		{[]byte("\x80\x02}q\x00."), format.Pickle},
		{[]byte("cos\nsystem\n"), format.Pickle},
		{[]byte("\x89HDF\r\n\x1a\n"), "hdf5"},
		{[]byte("GGUF\x03\x00\x00\x00"), "gguf"},
		{[]byte("<html>not a checkpoint</html>"), ""},
		{nil, ""},
	} {
		k, h := format.Sniff(bytes.NewReader(c.head), int64(len(c.head)))
		got := ""
		if k != nil {
			got = k.Name
		}
		if got != c.want || len(h.B) != min(len(c.head), format.HeadSize) {
			t.Errorf("%q: %q, want %q", c.head[:min(len(c.head), 12)], got, c.want)
		}
	}
}
