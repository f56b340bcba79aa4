//go:build !unix || js || wasip1

package cputime

import "time"

func now() time.Duration { return 0 }
