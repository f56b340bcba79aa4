//go:build amd64 && !linux && !purego

package kernels

func amxPerm() bool { return false }
