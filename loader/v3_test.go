package loader

import (
	"bytes"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
)

// A torch ≥ 2.1 style file: float8 tensors saved through
// torch.UntypedStorage and _rebuild_tensor_v3(..., dtype), wrapped in
// _rebuild_parameter, two views of one byte storage.
func TestRebuildTensorV3UntypedStorage(t *testing.T) {
	p := &pickleWriter{memo: map[string]int{}}
	p.b.Write([]byte{0x80, 2})
	p.global("collections", "OrderedDict")
	p.b.WriteString(")R")
	p.put()
	p.b.WriteByte('(')
	tensorV3 := func(name string, dt string, off int64, shape, stride []int, param bool) {
		p.str(name)
		if param {
			p.global("torch._utils", "_rebuild_parameter")
			p.b.WriteByte('(')
		}
		p.global("torch._utils", "_rebuild_tensor_v3")
		p.b.WriteByte('(')
		p.b.WriteByte('(')
		p.str("storage")
		p.global("torch", "UntypedStorage")
		p.str("0")
		p.str("cpu")
		p.int(16) // bytes
		p.b.WriteString("tQ")
		p.int(off)
		p.ints(shape)
		p.ints(stride)
		p.b.WriteByte(0x89)
		p.global("collections", "OrderedDict")
		p.b.WriteString(")R")
		p.global("torch", dt)
		p.b.WriteString("tR")
		if param {
			p.b.WriteByte(0x88) // requires_grad
			p.global("collections", "OrderedDict")
			p.b.WriteString(")R")
			p.b.WriteString("tR")
		}
	}
	tensorV3("w8", "float8_e4m3fn", 0, []int{2, 4}, []int{4, 1}, true)
	tensorV3("tail", "float8_e5m2", 8, []int{8}, []int{1}, false)
	p.b.WriteString("u.")
	data := []byte{0x38, 0x40, 0xb8, 0x00, 0x7e, 0x01, 0x44, 0x30, 0x3c, 0x40, 0xbc, 0x00, 0x7b, 0x01, 0x44, 0x30}
	var buf bytes.Buffer
	z := newTorchZip(&buf)
	if err := z.entryBytes("f8/data.pkl", p.b.Bytes()); err != nil {
		t.Fatal(err)
	}
	z.entryBytes("f8/data/0", data)
	z.entryBytes("f8/version", []byte("3\n"))
	z.close()
	ck, err := Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "f8.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.Tensors) != 2 || ck.Tensors[0].DType != tensor.F8_E4M3 || ck.Tensors[1].DType != tensor.F8_E5M2 {
		t.Fatalf("tensors: %+v", ck.Tensors)
	}
	if ck.Pickle.Verdict() != VerdictSafe {
		t.Errorf("verdict %s", ck.Pickle.Verdict())
	}
	d, err := ck.ReadDense(ck.Tensors[0])
	if err != nil {
		t.Fatal(err)
	}
	v, _ := d.Float32s()
	// e4m3fn: 0x38 = 1.0, 0x40 = 2.0, 0xb8 = -1.0, 0x7e = 448, 0x01 = 2^-9
	want := []float32{1, 2, -1, 0, 448, 1.0 / 512, 3, 0.5}
	for i := range want {
		if v[i] != want[i] {
			t.Errorf("w8[%d] = %v, want %v", i, v[i], want[i])
		}
	}
	tail, _ := ck.ReadTensor(ck.Tensors[1])
	if !bytes.Equal(tail, data[8:]) {
		t.Errorf("tail view bytes %x", tail)
	}
}
