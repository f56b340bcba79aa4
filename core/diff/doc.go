// Package diff compares a checkpoint's state dict with a target
// architecture (a preset, a spec, or one reconstructed from PyTorch's
// load_state_dict error text), explains each difference in plain words,
// and computes the fix plan that resolves what can be resolved.
package diff
