#!/usr/bin/env bash
# ditkit's single entry point for humans and CI.
#   ./build.sh build        CLI (bin/ditkit) + wasm + web assets
#   ./build.sh serve [ADDR] build, then serve the page on 127.0.0.1 (default :8080)
#   ./build.sh test         everything CI runs (installs what the tests need when missing;
#                           with CI set, a missing fixture or tool fails the tests)
#   ./build.sh bench        benchmarks, with PyTorch side by side when it is installed
#                           (bench_forward / bench_io / bench_gguf / bench_webgpu / bench_workers /
#                           bench_preview: one part alone)
#   ./build.sh worker       the page as a Cloudflare Worker in web/worker/build (+ wrangler)
#   ./build.sh fuzz [TIME]  run every fuzz target for TIME each (default 30s)
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)"

log() { printf '==> %s\n' "$*" >&2; }

# --- page (wasm/, ui/, web/) -------------------------------------------------

# build_ui regenerates the vugu components' *_gen.go (committed; deterministic).
build_ui() {
  log "ui: vugugen"
  go generate ./ui
}

# build_wasm builds the page's assets into web/static/ (embedded by bin/ditkit):
# ditkit.wasm (+ .gz), wasm_exec.js and the demo checkpoint.
build_wasm() {
  build_ui
  log "wasm: web/static/ditkit.wasm"
  GOOS=js GOARCH=wasm go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o web/static/ditkit.wasm ./wasm
  cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" web/static/wasm_exec.js
  gzip -9 -n -c web/static/ditkit.wasm > web/static/ditkit.wasm.gz
  if command -v brotli >/dev/null; then
    brotli -q 11 -f -o web/static/ditkit.wasm.br web/static/ditkit.wasm
  else
    rm -f web/static/ditkit.wasm.br
    log "brotli not installed: the page is served with gzip only"
  fi
  log "demo: web/static/demo/dit-demo-2d-layout.pt (generated, not committed)"
  go run ./web/internal/gen demo web/static/demo/dit-demo-2d-layout.pt
}

# ensure_chromium installs Chromium for the browser tests when none is found
# (Debian/Ubuntu: apt-get). If this fails the tests skip, saying why (under CI they fail).
ensure_chromium() {
  if [ -n "${DITKIT_CHROMIUM:-}" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    return 0
  fi
  log "browser tests: installing chromium (apt-get)"
  if command -v apt-get >/dev/null; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } >&2 \
      || log "could not install chromium: the browser tests will skip (fail under CI)"
  else
    log "no apt-get: install Chromium yourself (or set DITKIT_CHROMIUM); the browser tests will skip (fail under CI)"
  fi
}

# ensure_torch installs Debian's python3-torch (PyTorch 1.13 for /usr/bin/python3)
# for the interop tests that torch.load ditkit's outputs.
ensure_torch() {
  if /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    return 0
  fi
  log "interop tests: installing python3-torch (apt-get)"
  if command -v apt-get >/dev/null; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch libopenblas0-pthread; } >&2 \
      || log "could not install python3-torch: the torch interop tests will fail under CI"
  fi
}

# ensure_wrangler installs the pinned wrangler (web/worker/package-lock.json,
# npm ci; it runs offline once installed). The Worker test skips without it (fails under CI).
ensure_wrangler() {
  [ -x web/worker/node_modules/.bin/wrangler ] && return 0
  if ! command -v npm >/dev/null && command -v apt-get >/dev/null; then
    log "worker: installing nodejs + npm (apt-get)"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm; } >&2 || true
  fi
  log "worker: npm ci (wrangler)"
  (cd web/worker && npm ci --no-audit --no-fund --loglevel=error) >&2 \
    || log "could not install wrangler: the Worker test will skip (fail under CI)"
}

# build_worker fills web/worker/build/: worker.mjs + app.wasm (web's handler
# via syumai/workers, without embedded assets) and assets/ (web/static + a
# _headers file generated from web.SecurityHeaders).
build_worker() {
  log "worker: web/worker/build"
  (cd web/worker && go tool workers-assets-gen -mode=go -o build)
  GOOS=js GOARCH=wasm go build -trimpath -tags ditkit_noassets -ldflags "-s -w" -o web/worker/build/app.wasm ./web/worker
  mkdir -p web/worker/build/assets
  cp -R web/static/. web/worker/build/assets/
  rm -f web/worker/build/assets/*.gz web/worker/build/assets/*.br
  go run ./web/internal/gen headers web/worker/build/assets/_headers
}

cmd_worker() {
  build_wasm
  build_worker
  ensure_wrangler
  log "worker ready: (cd web/worker && WRANGLER_SEND_METRICS=false npx wrangler dev --ip 127.0.0.1 --port 8787 --local)"
}

# ensure_brotli installs brotli (for ditkit.wasm.br) when apt-get can.
ensure_brotli() {
  command -v brotli >/dev/null && return 0
  command -v apt-get >/dev/null || return 0
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo -n"
  log "page: installing brotli (apt-get)"
  { $sudo apt-get install -y -qq brotli || { $sudo apt-get update -qq && $sudo apt-get install -y -qq brotli; }; } >&2 \
    || log "could not install brotli: gzip only"
}

# --- end of page functions ------------------------------------------------------

build_cli() {
  log "cli: bin/ditkit"
  mkdir -p bin
  go build -trimpath -ldflags "-X main.version=$VERSION" -o bin/ditkit ./cmd/ditkit
}

cmd_build() {
  build_wasm
  build_cli
}

cmd_serve() {
  cmd_build
  exec bin/ditkit serve --addr "${1:-127.0.0.1:8080}"
}

# check_format fails when gofmt would change a file (generated vugu files excepted).
check_format() {
  local bad
  bad="$(gofmt -l $(git ls-files '*.go' | grep -v '_gen\.go$' || true) 2>/dev/null || true)"
  if [ -n "$bad" ]; then
    echo "gofmt needed on:"; echo "$bad"; return 1
  fi
}

# check_generated re-runs every go:generate line in the module (vugugen for
# ui's components, sha256x's assembly, the kernels' generators) and fails,
# naming the files, when one comes out different from the working tree: a
# generated file was edited by hand, or its generator changed without it.
# core/preview's factor table is generated from ../shared/fixtures: without
# the fixtures that one generator is skipped, saying so (the tests then
# fail naming every missing fixture under CI).
check_generated() {
  local before after changed skip=()
  if [ ! -f ../shared/fixtures/forward2/latent_rgb_factors.json ]; then
    echo "../shared/fixtures/forward2/latent_rgb_factors.json is missing: core/preview/factors_table.go not regenerated from it"
    skip=(-skip genfactors)
  fi
  before="$(mktemp)"; after="$(mktemp)"
  snapshot() { git ls-files -z --cached --others --exclude-standard | xargs -0 sha256sum 2>/dev/null | sort -k2; }
  snapshot > "$before"
  go generate "${skip[@]}" ./...
  snapshot > "$after"
  changed="$(diff "$before" "$after" | grep '^[<>]' | cut -c69- | sort -u || true)"
  rm -f "$before" "$after"
  if [ -n "$changed" ]; then
    echo "go generate rewrote these files: they differed from what their generators write (review the rewrite and commit it):"; echo "$changed"
    git --no-pager diff --stat -- $changed >&2 || true
    return 1
  fi
}

# Tests need ../shared/fixtures (ground truth written by PyTorch) and the
# tools ensure_* install; with CI set, or DITKIT_REQUIRE_FIXTURES=1, a test
# missing one fails (core/testfixtures) instead of skipping.
cmd_test() {
  log "gofmt"
  check_format
  log "go vet (native)"
  go vet ./...
  log "go vet + build (GOOS=js GOARCH=wasm: core, loader, wasm, ui)"
  GOOS=js GOARCH=wasm go vet ./core/... ./loader/... ./wasm/... ./ui/...
  log "go generate: generated files are current"
  check_generated
  ensure_brotli
  cmd_build
  ensure_chromium
  ensure_wrangler
  ensure_torch
  log "go test"
  go test -count=1 -timeout 40m ./... 2>&1 | tee /tmp/ditkit-test.log
  local rc=${PIPESTATUS[0]}
  log "go test -race -short (core, loader)"
  go test -race -short -count=1 -timeout 20m ./core/... ./loader/... 2>&1 | tee -a /tmp/ditkit-test.log
  local rrc=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] && return "$rc"
  return "$rrc"
}

cmd_bench() {
  cmd_build
  log "go benchmarks"
  go test -run '^$' -bench "${BENCH:-.}" -skip 'DiTXL2|PixArtXL2' -benchtime "${BENCHTIME:-1x}" -timeout 60m ./...
  bench_forward
  bench_io
  bench_gguf
  bench_webgpu
  bench_workers
  bench_preview
}

# bench_workers times the page's CPU backend in headless Chromium: a
# DiT-XL/2-shaped forward (batch 2, bf16 weights, DITKIT_BENCH_DEPTH blocks,
# default 4) on one instance with the Go tiles, then with the wasm SIMD
# kernel on 1, 2 and navigator.hardwareConcurrency Web Workers
# (window.ditkit.bench({backend: 'cpu', workers: N})).
bench_workers() {
  ensure_chromium
  log "bench: page CPU backend on Web Workers, DiT-XL/2 shapes (depth ${DITKIT_BENCH_DEPTH:-4} of 28)"
  DITKIT_BENCH_WORKERS=1 go test -count=1 -run '^TestCPUWorkersBench$' -v -timeout 60m ./web/e2e 2>&1 \
    | grep -E '^(bench cpu-workers:|--- (FAIL|SKIP)|FAIL|ok )|workers_test.go' || true
}

# bench_preview prints the preview's table (issue 16): one sampler step
# (batch 2, random weights) of DiT-XL/2 256, PixArt-XL/2 512 and STDiT3-XL/2
# at a 240p × 16-frame latent on the CPU natively (fp32/bf16 weights), in
# the page's wasm (SIMD, then Web Workers) and on WebGPU (SwiftShader
# without a GPU), and TAESD decodes (4/16 channels); weights and peak
# memory. The slow backends run fewer blocks and the table says so
# (measured at depth d, scaled by FLOPs). DITKIT_BENCH_PREVIEW_PARTS
# (native,wasm,workers,webgpu,decode) picks parts.
bench_preview() {
  ensure_chromium
  log "bench: preview per family (native, wasm, workers, WebGPU; TAESD decode)"
  DITKIT_BENCH_PREVIEW=1 go test -count=1 -run '^TestPreviewBench$' -v -timeout 60m ./web/e2e 2>&1 \
    | grep -E '^(bench preview:|\||--- (FAIL|SKIP)|FAIL|ok )|preview_bench_test.go' || true
}

# bench_webgpu times a DiT-XL/2-shaped forward (batch 2 as with CFG, bf16
# weights, random values) on WebGPU and on the CPU (Go wasm) in the same
# headless Chromium run (--enable-unsafe-webgpu: SwiftShader without a GPU,
# so the ratio there only proves the path works), with the kernel GFLOP/s.
# DITKIT_BENCH_DEPTH (default 4; 28 = the whole model, ~15 min on SwiftShader)
# sets the blocks run; times are also printed scaled to 28 blocks.
bench_webgpu() {
  ensure_chromium
  log "bench: WebGPU vs CPU-wasm forward, DiT-XL/2 shapes (depth ${DITKIT_BENCH_DEPTH:-4} of 28)"
  DITKIT_BENCH_WEBGPU=1 go test -count=1 -run '^TestWebGPUBench$' -v -timeout 60m ./web/e2e 2>&1 \
    | grep -E '^(bench webgpu:|--- (FAIL|SKIP)|FAIL|ok )|webgpu_test.go' || true
}

# bench_forward prints the forward table: a full-size DiT-XL/2 256 px
# forward (random weights of the real shapes) at batch 1 and 2 by PyTorch
# (when /usr/bin/python3 has torch) and by ditkit (fp32/bf16 weights,
# fp32/bf16 precision) on the same threads in one run, with GFLOP/s, the
# share of the FMA peak and the time against PyTorch's
# (core/dit/internal/forwardbench); then the single-threaded path wasm
# takes and one PixArt-XL/2 512 px sampler step (CFG batch 2, 120 caption
# tokens) (Go benchmarks).
bench_forward() {
  log "bench: DiT-XL/2 forward table (ditkit vs torch, ${DITKIT_BENCH_THREADS:-$(nproc)} threads)"
  go run ./core/dit/internal/forwardbench -threads "${DITKIT_BENCH_THREADS:-$(nproc)}"
  log "bench: DiT-XL/2 forward single-threaded (the portable path too), PixArt-XL/2 512 step (go)"
  go test -run '^$' -bench 'DiTXL2SingleThread|PixArtXL2' -benchtime 1x -timeout 30m ./core/dit | grep -E 'Benchmark|ok' || true
}

# bench_io times `ditkit inspect` and `ditkit convert` (fp32 → bf16
# safetensors, verification included) on a generated 2.7 GB DiT-XL/2
# checkpoint, next to torch.load and torch's load + cast + save of the same
# file when torch is installed. Each side runs DITKIT_BENCH_RUNS times
# (default 3) after a sync, with the page cache warm; medians are reported
# (the disk's writeback makes single runs noisy).
# bench_ckpt generates the 2.7 GB DiT-XL/2 checkpoint (random fp32
# weights of the real shapes) once; its path is $dir/DiT-XL-2-256x256.pt.
bench_ckpt() {
  local ck="$1"
  mkdir -p "$(dirname "$ck")"
  if [ ! -s "$ck" ]; then
    log "bench: generating $ck (DiT-XL/2 shapes, random fp32 weights)"
    go run ./web/internal/gen benchckpt -preset DiT-XL_2_256 -o "$ck"
  fi
}

bench_io() {
  local dir="${DITKIT_BENCH_DIR:-/tmp/ditkit-bench}"
  local ck="$dir/DiT-XL-2-256x256.pt"
  local runs="${DITKIT_BENCH_RUNS:-3}"
  bench_ckpt "$ck"
  local size; size=$(stat -c %s "$ck")
  cat "$ck" > /dev/null   # warm the page cache for both sides alike
  sync
  local tm=(); [ -x /usr/bin/time ] && tm=(/usr/bin/time -o "$dir/time.txt" -f '%M')
  median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
  log "bench: ditkit inspect ($((size / 1000000)) MB)"
  local t0 t1 i
  t0=$(date +%s.%N); bin/ditkit inspect --json "$ck" > /dev/null; t1=$(date +%s.%N)
  local inspect_s; inspect_s=$(echo "$t1 - $t0" | bc -l)
  log "bench: ditkit convert --dtype bf16 → safetensors, $runs runs"
  local walls=() rss=()
  for ((i = 0; i < runs; i++)); do
    rm -f "$dir/out.safetensors"; sync; sleep 1
    t0=$(date +%s.%N); "${tm[@]}" bin/ditkit convert "$ck" -o "$dir/out.safetensors" --dtype bf16 > /dev/null 2>&1; t1=$(date +%s.%N)
    walls+=("$(echo "$t1 - $t0" | bc -l)")
    [ -s "$dir/time.txt" ] && rss+=("$(tail -1 "$dir/time.txt")")
  done
  rm -f "$dir/out.safetensors"
  local conv_s; conv_s=$(printf '%s\n' "${walls[@]}" | median)
  local conv_rss="n/a"; [ ${#rss[@]} -gt 0 ] && conv_rss="$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 )) MB"
  printf 'ditkit inspect: %.3f s\n' "$inspect_s"
  printf 'ditkit convert fp32→bf16 safetensors, incl. re-read verification: median %.2f s of [%s] (%.0f MB/s of input), peak RSS %s\n' \
    "$conv_s" "$(printf '%.2f ' "${walls[@]}")" "$(echo "$size / 1000000 / $conv_s" | bc -l)" "$conv_rss"
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    log "bench: torch.load and torch load+cast+save (2 threads), $runs runs"
    local tl=() tc=() tp=() trss=() line
    for ((i = 0; i < runs; i++)); do
      rm -f "$dir/torch_out.pt"; sync; sleep 1
      t0=$(date +%s.%N)
      line=$(OMP_NUM_THREADS=2 /usr/bin/python3 - "$ck" "$dir/torch_out.pt" <<'PY'
import resource, sys, time, torch
ck, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
t = time.time(); sd = torch.load(ck, map_location="cpu"); load = time.time() - t
t = time.time(); sd = {k: v.to(torch.bfloat16) for k, v in sd.items()}; torch.save(sd, out); cs = time.time() - t
print(f"{load} {load + cs} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
PY
)
      t1=$(date +%s.%N)
      read -r a b c <<< "$line"
      tl+=("$a"); tc+=("$b"); trss+=("$c"); tp+=("$(echo "$t1 - $t0" | bc -l)")
    done
    rm -f "$dir/torch_out.pt"
    local load_s cs_s proc_s rss_m
    load_s=$(printf '%s\n' "${tl[@]}" | median); cs_s=$(printf '%s\n' "${tc[@]}" | median)
    proc_s=$(printf '%s\n' "${tp[@]}" | median); rss_m=$(printf '%s\n' "${trss[@]}" | median)
    printf 'torch.load: median %.2f s   torch load+cast+save: median %.2f s of [%s] (python with import torch: %.2f s), peak RSS %s MB\n' \
      "$load_s" "$cs_s" "$(printf '%.2f ' "${tc[@]}")" "$proc_s" "$rss_m"
    printf 'ratio: inspect is %.0fx faster than torch.load; convert is %.1fx faster than torch load+cast+save (%.1fx against the whole python process; target >= 2x)\n' \
      "$(echo "$load_s / $inspect_s" | bc -l)" "$(echo "$cs_s / $conv_s" | bc -l)" "$(echo "$proc_s / $conv_s" | bc -l)"
  else
    log "bench: torch not installed (build.sh test installs python3-torch); no peer numbers"
  fi
  rm -f "$dir/time.txt"
}

# bench_gguf times GGUF on the 2.7 GB DiT-XL/2 checkpoint: ditkit convert
# → Q8_0 .gguf (quantization on every core, verification included), then
# .gguf → bf16 .safetensors (the default for GGUF input) next to llama.cpp's
# gguf-py + numpy doing the same (loader/convert/testdata/ggufpy_to_bf16.py;
# gguf-py is not vendored: point DITKIT_GGUF_PY at a gguf-py checkout,
# e.g. llama.cpp/gguf-py), peak RSS of each; then dequantization GB/s per
# ggml type compiled to wasm and run in node (the native numbers are in
# the go benchmarks: BenchmarkDequantize, BenchmarkQuantize*).
bench_gguf() {
  local dir="${DITKIT_BENCH_DIR:-/tmp/ditkit-bench}"
  local ck="$dir/DiT-XL-2-256x256.pt" q8="$dir/DiT-XL-2-256x256.Q8_0.gguf"
  local runs="${DITKIT_BENCH_RUNS:-3}" gp="${DITKIT_GGUF_PY:-}"
  bench_ckpt "$ck"
  local size; size=$(stat -c %s "$ck")
  cat "$ck" > /dev/null
  # time.txt: peak RSS (KB) and CPU seconds (user + system): on a shared
  # machine the CPU seconds say more than the wall clock.
  local tm=(); [ -x /usr/bin/time ] && tm=(/usr/bin/time -o "$dir/time.txt" -f '%M %U %S')
  rss_of() { awk 'END {printf "%d", $1 / 1024}' "$dir/time.txt"; }
  cpu_of() { awk 'END {printf "%.2f", $2 + $3}' "$dir/time.txt"; }
  median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
  local t0 t1 i
  log "bench: ditkit convert → Q8_0 .gguf ($((size / 1000000)) MB of fp32)"
  rm -f "$q8"; sync
  t0=$(date +%s.%N); "${tm[@]}" bin/ditkit convert "$ck" -o "$q8" --quant Q8_0 > /dev/null; t1=$(date +%s.%N)
  printf 'ditkit convert fp32 → Q8_0 gguf, incl. verification: %.2f s (%.0f MB/s of input), %s CPU s, peak RSS %s MB, %s MB written\n' \
    "$(echo "$t1 - $t0" | bc -l)" "$(echo "$size / 1000000 / ($t1 - $t0)" | bc -l)" "$(cpu_of)" "$(rss_of)" "$(( $(stat -c %s "$q8") / 1000000 ))"
  cat "$q8" > /dev/null
  log "bench: Q8_0 .gguf → bf16 .safetensors, $runs runs each"
  local walls=() rss=() cpus=() pwalls=() prss=() pcpus=() line
  for ((i = 0; i < runs; i++)); do
    rm -f "$dir/gguf_out.safetensors"; sync; sleep 1
    t0=$(date +%s.%N); "${tm[@]}" bin/ditkit convert "$q8" -o "$dir/gguf_out.safetensors" > /dev/null; t1=$(date +%s.%N)
    walls+=("$(echo "$t1 - $t0" | bc -l)"); rss+=("$(rss_of)"); cpus+=("$(cpu_of)")
    if [ -n "$gp" ] && [ -d "$gp/gguf" ]; then
      rm -f "$dir/gguf_out_py.safetensors"; sync; sleep 1
      t0=$(date +%s.%N)
      PYTHONPATH="$gp" "${tm[@]}" /usr/bin/python3 loader/convert/testdata/ggufpy_to_bf16.py "$q8" "$dir/gguf_out_py.safetensors" > /dev/null
      t1=$(date +%s.%N)
      pwalls+=("$(echo "$t1 - $t0" | bc -l)"); prss+=("$(rss_of)"); pcpus+=("$(cpu_of)")
    fi
  done
  local gs; gs=$(printf '%s\n' "${walls[@]}" | median)
  printf 'ditkit convert Q8_0 gguf → bf16 safetensors, incl. verification: median %.2f s of [%s], CPU s [%s], peak RSS %s MB\n' \
    "$gs" "$(printf '%.2f ' "${walls[@]}")" "${cpus[*]}" "$(printf '%s\n' "${rss[@]}" | median)"
  if [ ${#pwalls[@]} -gt 0 ]; then
    local ps; ps=$(printf '%s\n' "${pwalls[@]}" | median)
    printf 'gguf-py + numpy, same conversion (no verification): median %.2f s of [%s], CPU s [%s], peak RSS %s MB; wall ratio %.1fx\n' \
      "$ps" "$(printf '%.2f ' "${pwalls[@]}")" "${pcpus[*]}" "$(printf '%s\n' "${prss[@]}" | median)" "$(echo "$ps / $gs" | bc -l)"
  else
    log "bench: DITKIT_GGUF_PY (a gguf-py checkout) not set; no peer numbers"
  fi
  rm -f "$dir/gguf_out.safetensors" "$dir/gguf_out_py.safetensors" "$dir/time.txt"
  log "bench: dequantization in wasm (node)"
  GOOS=js GOARCH=wasm go test -run '^$' -bench 'Dequantize' -benchtime "${BENCHTIME:-3x}" \
    -exec "$(go env GOROOT)/lib/wasm/go_js_wasm_exec" ./core/quant | grep -E 'Benchmark|ok' || true
}

cmd_fuzz() {
  local t="${1:-30s}"
  local pkg fn
  while read -r pkg fn; do
    log "fuzz $pkg $fn ($t)"
    go test -run "^$" -fuzz "^${fn}\$" -fuzztime "$t" -fuzzminimizetime 10s "$pkg"
  done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
      d="./$(dirname "${f#./}")"
      grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r fn; do echo "$d $fn"; done
    done)
}

case "${1:-}" in
  build) cmd_build ;;
  serve) shift; cmd_serve "$@" ;;
  test) cmd_test ;;
  bench) cmd_bench ;;
  bench_webgpu) bench_webgpu ;;
  bench_forward) bench_forward ;;
  bench_workers) cmd_build; bench_workers ;;
  bench_preview) cmd_build; bench_preview ;;
  bench_gguf) cmd_build; bench_gguf ;;
  bench_io) cmd_build; bench_io ;;
  worker) cmd_worker ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
