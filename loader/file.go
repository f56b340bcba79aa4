//go:build !js

package loader

import (
	"os"
)

// OpenFile opens a checkpoint on disk. Close the returned file when done
// with the checkpoint (tensor data is read from it on demand).
func OpenFile(path string) (*Checkpoint, *os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, nil, &FormatError{File: path, Detail: "is a directory", Err: ErrFormat}
	}
	ck, err := Open(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return ck, f, nil
}
