// Package loader reads and writes checkpoint files — PyTorch zip, PyTorch
// legacy (pre-1.6) and safetensors — over an io.ReaderAt, reading only the
// byte ranges it needs: metadata up front, tensor data on demand.
//
// Pickles are never executed. Before a pickle is unpickled, loader/scan's
// strict walk checks it, and Open attaches the full safety scan of the file
// (Checkpoint.Scan, Checkpoint.Pickle); unknown classes become inert Object
// values. loader/format's sniffer decides the format, for Open and for the
// scanner alike.
package loader
