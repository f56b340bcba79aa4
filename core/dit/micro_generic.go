package dit

// microKernel is the 4×16 register tile; a native SIMD build may replace it.
var microKernel = microKernelGeneric
