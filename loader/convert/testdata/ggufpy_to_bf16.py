"""The peer of `ditkit convert FILE.gguf -o OUT.safetensors` (bf16) for
build.sh bench_gguf: llama.cpp's gguf-py GGUFReader (memory-mapped) and
its numpy dequantizers, bf16 by round-to-nearest-even on the f32 bits,
written as safetensors one tensor at a time. gguf-py is not part of
ditkit: PYTHONPATH must hold a gguf-py checkout (DITKIT_GGUF_PY).

usage: ggufpy_to_bf16.py IN.gguf OUT.safetensors
"""
import json
import resource
import struct
import sys
import time

import numpy as np
import gguf
import gguf.gguf_reader as gr
from gguf.quants import dequantize

gr.GGML_MAX_DIMS = 5  # read fix_5d files as ComfyUI-GGUF's older gguf-py did

t0 = time.time()
r = gguf.GGUFReader(sys.argv[1])
header, off, order = {}, 0, []
for t in r.tensors:
    shape = [int(x) for x in reversed(t.shape.tolist())]
    n = int(np.prod(shape)) * 2
    header[t.name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
    order.append(t)
    off += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for t in order:
        x = np.ascontiguousarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(-1)
        u = x.view(np.uint32)
        f.write(((u + (0x7FFF + ((u >> 16) & 1))) >> 16).astype(np.uint16).tobytes())
print(f"{time.time() - t0:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
