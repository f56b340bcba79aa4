// Package cpu reports the x86 vector features core's assembly kernels need
// (CPUID plus the OS's XCR0 grant); elsewhere every feature is false.
package cpu

// Features the kernels choose between; set once at start-up.
var (
	AVX2   bool // AVX2 and FMA, YMM state enabled by the OS
	AVX512 bool // AVX512F (with FMA), ZMM and opmask state enabled
	F16C   bool // VCVTPS2PH / VCVTPH2PS (with AVX)
	SHA    bool // SHA256RNDS2 / SHA256MSG1 / SHA256MSG2 (with SSSE3 and SSE4.1)
)
