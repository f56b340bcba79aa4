// Package fix holds ditkit's fix operations — named, documented steps that
// turn a checkpoint's state dict into the one a target architecture loads
// (strip a prefix, rename, unsqueeze, split/fuse, drop, regenerate, resize,
// cast) — and applies a plan of them to a virtual state dict whose tensor
// data is described, not read: a writer streams it later from the source.
package fix
