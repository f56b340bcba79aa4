package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/ditkit/ditkit/core/testfixtures"
)

// BenchmarkPageLoad measures page weight (ditkit.wasm raw, gzip -9 and
// brotli -q 11 when the brotli tool exists) and start-up: the median over
// five cold loads (cache disabled) from localhost of the time from
// navigation start to the page being interactive (window.ditkit.ready
// resolved: wasm compiled, Go started, components mounted).
// ./build.sh bench runs it.
func BenchmarkPageLoad(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(siteDir, "ditkit.wasm"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(raw)), "wasm-bytes")
	gz, err := exec.Command("gzip", "-9", "-n", "-c", filepath.Join(siteDir, "ditkit.wasm")).Output()
	if err == nil {
		b.ReportMetric(float64(len(gz)), "wasm-gzip-bytes")
	}
	if br, err := exec.Command("brotli", "-q", "11", "-c", filepath.Join(siteDir, "ditkit.wasm")).Output(); err == nil {
		b.ReportMetric(float64(len(br)), "wasm-br-bytes")
	}
	if skipReason != "" {
		testfixtures.Missing(b, "%s", skipReason)
	}
	var tti, load []float64
	for i := 0; i < b.N; i++ {
		for range 5 {
			ctx, cancel := chromedp.NewContext(browserCtx)
			ctx, cancelT := context.WithTimeout(ctx, time.Minute)
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				b.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
				b.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(siteURL)); err != nil {
				b.Fatal(err)
			}
			ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.ditkit.ready.then(() => window.__ditkitInteractiveMs)`, chromedp.EvalAwaitPromise))
			if err != nil {
				b.Fatal(err)
			}
			tti = append(tti, ms)
			l, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("resource").filter(r => r.name.endsWith("ditkit.wasm")).map(r => r.responseEnd - r.startTime)[0] || 0`))
			load = append(load, l)
			cancelT()
			cancel()
		}
	}
	b.ReportMetric(median(tti), "tti-ms")
	b.ReportMetric(median(load), "wasm-fetch-ms")
	b.ReportMetric(0, "ns/op")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
