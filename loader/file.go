package loader

import (
	"io"
	"os"
	"path/filepath"
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

// OpenPath opens a checkpoint file, or a sharded set through its
// *.index.json (shards are opened relative to the index). Close the
// returned closer when done.
func OpenPath(path string) (*Checkpoint, io.Closer, error) {
	if !IsIndexName(path) {
		return OpenFile(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxIndexJSON+1))
	f.Close()
	if err != nil {
		return nil, nil, err
	}
	var files multiCloser
	ck, err := OpenSharded(b, path, func(name string) (io.ReaderAt, int64, error) {
		sf, err := os.Open(filepath.Join(filepath.Dir(path), filepath.FromSlash(name)))
		if err != nil {
			return nil, 0, err
		}
		files = append(files, sf)
		st, err := sf.Stat()
		if err != nil {
			return nil, 0, err
		}
		return sf, st.Size(), nil
	})
	if err != nil {
		files.Close()
		return nil, nil, err
	}
	return ck, files, nil
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var first error
	for _, c := range m {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
