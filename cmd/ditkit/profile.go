package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startProfiling honours DITKIT_CPUPROFILE=FILE and DITKIT_TRACE=FILE (a CPU
// profile for go tool pprof, an execution trace for go tool trace); the
// returned function stops them. For finding where a command spends its time.
func startProfiling() func() {
	var stops []func()
	for _, p := range []struct {
		env   string
		start func(*os.File) error
		stop  func()
	}{
		{"DITKIT_CPUPROFILE", func(f *os.File) error { return pprof.StartCPUProfile(f) }, pprof.StopCPUProfile},
		{"DITKIT_TRACE", func(f *os.File) error { return trace.Start(f) }, trace.Stop},
	} {
		path := os.Getenv(p.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err == nil {
			if err = p.start(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "ditkit: %s: %v\n", p.env, err)
			continue
		}
		stop := p.stop
		stops = append(stops, func() { stop(); f.Close() })
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}
