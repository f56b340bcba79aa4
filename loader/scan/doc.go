// Package scan is ditkit's static safety scanner (`ditkit scan`): it walks
// every pickle of a checkpoint, pickle, zip, tar or NumPy file without
// building anything or running anything, and judges the globals they name
// and the container's structure against what PyTorch, Python's zipfile
// and CPython's unpickler would do with the file.
//
//   - Scan scans a whole file; Summary words a verdict.
//   - CheckPickle is the strict walk loader runs before it unpickles.
//   - GlobalVerdict is the verdict ladder for one module.name (README,
//     "Safety verdicts").
//   - StorageDType and IsTorchDType are the torch vocabulary of checkpoint
//     pickles, shared with loader's unpickler.
//
// The walker models CPython's two readings of a pickle (from bytes, and
// from a file through its FRAMEs: pickleread.go) and counts the
// expansion of memo/DUP reuse without building it (amplify.go). The
// format of a file comes from loader/format's sniffer, which loader.Open
// uses too; this package imports loader/format and core, never loader.
package scan
