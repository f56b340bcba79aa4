package loader

import "io"

// PickleReport is filled in by the pickle scanner.
type PickleReport struct{}

func openTorchZip(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	return nil, ferr(name, ErrUnsupported, "", "torch zip: not yet")
}
func openLegacy(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	return nil, ferr(name, ErrUnsupported, "", "legacy: not yet")
}
