//go:build amd64 && !linux && !purego

package dit

func amxPerm() bool { return false }
