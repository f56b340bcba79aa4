package e2e

import (
	"archive/zip"
	"bytes"
	"testing"
)

// hostilePickleZip is a torch zip whose pickle calls posix.system("id") when
// torch.load(weights_only=False) opens it. ditkit never runs it.
func hostilePickleZip(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	pk := []byte("\x80\x02}q\x00(X\x04\x00\x00\x00evilq\x01cposix\nsystem\nq\x02X\x02\x00\x00\x00idq\x03\x85q\x04Rq\x05u.")
	for _, e := range []struct {
		name string
		data []byte
	}{{"hostile/data.pkl", pk}, {"hostile/byteorder", []byte("little")}, {"hostile/version", []byte("3\n")}} {
		w, err := z.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
