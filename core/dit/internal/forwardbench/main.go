// Command forwardbench prints the forward table of `./build.sh bench`: a
// DiT-XL/2 256 px forward (random weights of the real shapes) at batch 1
// and 2 on the same threads, by PyTorch (core/dit/testdata/torch_dit_bench.py,
// when /usr/bin/python3 has torch) and by ditkit (fp32 and bf16 weights,
// fp32 and bf16 precision), with GFLOP/s, the share of the machine's FMA
// peak (kernels.Peak) and the time against PyTorch's, in one run. Each
// entry is the best of -runs forwards after a warm-up (wall time), with
// the CPU time beside it: on a machine other processes share, CPU time is
// the steadier measure.
//
//	go run ./core/dit/internal/forwardbench [-threads N] [-runs 2] [-python /usr/bin/python3]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/internal/cputime"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

type timing struct{ wall, cpu float64 }

type row struct {
	name string
	t    [2]timing // batch 1, 2
}

func main() {
	threads := flag.Int("threads", runtime.NumCPU(), "threads for both sides")
	runs := flag.Int("runs", 2, "timed forwards per entry (the best is kept)")
	python := flag.String("python", "/usr/bin/python3", "python with torch (skipped when it has none)")
	script := flag.String("torch", "core/dit/testdata/torch_dit_bench.py", "the PyTorch side")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	pk := kernels.Peak()
	fmt.Printf("machine: %s, %d threads; load average %s\n", cpuName(), *threads, loadAvg())
	fmt.Println(pk)

	var rows []row
	if torch, err := runTorch(*python, *script, *threads); err != nil {
		fmt.Println("torch:", err)
	} else {
		rows = append(rows, torch)
	}
	sp, err := spec.Preset("DiT-XL_2_256")
	if err != nil {
		fail(err)
	}
	var flops [2]float64
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16} {
		src, err := dit.RandomWeights(sp, dt, 1)
		if err != nil {
			fail(err)
		}
		net, err := dit.Build(src, &spec.Resolution{Spec: sp}, dit.BuildOptions{})
		if err != nil {
			fail(err)
		}
		precs := []kernels.Precision{kernels.FP32}
		if dt == tensor.BF16 {
			precs = append(precs, kernels.BF16)
		}
		for _, prec := range precs {
			name := fmt.Sprintf("ditkit, %v weights, precision %v", dt, prec)
			if prec == kernels.BF16 {
				name += " (" + kernels.BF16Kernel() + ")"
			}
			r := row{name: name}
			for b := 1; b <= 2; b++ {
				flops[b-1] = net.FLOPs(b)
				r.t[b-1] = timeForward(net, b, *threads, prec, *runs)
			}
			rows = append(rows, r)
		}
		net = nil
		runtime.GC()
	}
	fmt.Printf("\nDiT-XL/2 256 px forward (%.0f / %.0f GFLOP at batch 1 / 2), %d threads: wall s, GFLOP/s, %% of the FMA peak, time / PyTorch's;\n", flops[0]/1e9, flops[1]/1e9, *threads)
	fmt.Printf("then CPU s and GFLOP per CPU-second as %% of one core's peak (what the wall figures are when no other process runs)\n")
	fmt.Printf("%-50s %-62s %-62s\n", "", "batch 1", "batch 2")
	for _, r := range rows {
		fmt.Printf("%-50s", r.name)
		for b := 0; b < 2; b++ {
			t := r.t[b]
			cell := fmt.Sprintf("%6.2f s %6.1f GFLOP/s", t.wall, flops[b]/t.wall/1e9)
			if pk.GFLOPs > 0 {
				cell += fmt.Sprintf(" %4.1f%%", 100*flops[b]/t.wall/1e9/pk.GFLOPs)
			}
			if strings.HasPrefix(rows[0].name, "PyTorch") && rows[0].t[b].wall > 0 {
				cell += fmt.Sprintf(" %5.2fx", t.wall/rows[0].t[b].wall)
			}
			cell += fmt.Sprintf(" | %6.2f cpu-s", t.cpu)
			if pk.GFLOPs > 0 && t.cpu > 0 {
				cell += fmt.Sprintf(" %4.1f%%", 100*flops[b]/t.cpu/1e9/(pk.GFLOPs/float64(pk.Cores)))
			}
			fmt.Printf(" %-62s", cell)
		}
		fmt.Println()
	}
	fmt.Printf("load average at the end: %s\n", loadAvg())
}

func timeForward(net dit.Net, batch, threads int, prec kernels.Precision, runs int) timing {
	x := make([]float32, batch*4*32*32)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	ts, ys := make([]float64, batch), make([]int, batch)
	for i := range ts {
		ts[i], ys[i] = float64(100*i+10), i
	}
	opt := &dit.Options{Backend: &kernels.CPU{Threads: threads, Precision: prec}}
	shape, c := []int{batch, 4, 32, 32}, &dit.Cond{Labels: ys}
	best := timing{math.Inf(1), math.Inf(1)}
	for i := 0; i <= runs; i++ {
		w0, c0 := time.Now(), cputime.Now()
		if _, _, err := net.Forward(context.Background(), x, shape, ts, c, opt); err != nil {
			fail(err)
		}
		if i == 0 {
			continue // warm-up
		}
		best.wall = math.Min(best.wall, time.Since(w0).Seconds())
		best.cpu = math.Min(best.cpu, (cputime.Now() - c0).Seconds())
	}
	return best
}

var torchLine = regexp.MustCompile(`batch (\d): ([0-9.]+) s \(cpu ([0-9.]+) s\) \((.*)\)`)

func runTorch(python, script string, threads int) (row, error) {
	if err := exec.Command(python, "-c", "import torch").Run(); err != nil {
		return row{}, fmt.Errorf("%s has no torch: no peer numbers", python)
	}
	cmd := exec.Command(python, script, strconv.Itoa(threads))
	cmd.Env = append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", threads))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return row{}, err
	}
	if err := cmd.Start(); err != nil {
		return row{}, err
	}
	r := row{name: "PyTorch fp32"}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		fmt.Println(sc.Text())
		m := torchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		b, _ := strconv.Atoi(m[1])
		w, _ := strconv.ParseFloat(m[2], 64)
		c, _ := strconv.ParseFloat(m[3], 64)
		if b == 1 || b == 2 {
			r.t[b-1] = timing{w, c}
			r.name = "PyTorch fp32 (" + m[4] + ")"
		}
	}
	if err := cmd.Wait(); err != nil {
		return row{}, err
	}
	if r.t[0].wall == 0 || r.t[1].wall == 0 {
		return row{}, fmt.Errorf("no timings in the output of %s", script)
	}
	return r, nil
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "forwardbench:", err)
	os.Exit(1)
}
