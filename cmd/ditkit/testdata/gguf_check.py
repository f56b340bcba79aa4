"""An independent minimal GGUF v3 reader in numpy (not ditkit's, not
gguf-py's): parses a .gguf file written by `ditkit convert`, checks its
layout (offsets = running sum of sizes padded to the alignment, data
section aligned), dequantizes F32/F16/BF16/Q8_0/Q4_0 with numpy as ggml's
dequantize_row_* does, and compares every tensor with ditkit's fp32
dequantization in a safetensors file. Prints one JSON line.

usage: gguf_check.py FILE.gguf DEQUANT_F32.safetensors
"""
import json
import struct
import sys

import numpy as np

BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
          10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
NAMES = {0: "F32", 1: "F16", 30: "BF16", 8: "Q8_0", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1",
         10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K"}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class R:
    def __init__(self, b):
        self.b, self.p = b, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.b[self.p:self.p + n].decode("utf-8")
        self.p += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def dequant(t, raw, n):
    if t == 0:
        return np.frombuffer(raw, "<f4").copy()
    if t == 1:
        return np.frombuffer(raw, "<f2").astype(np.float32)
    if t == 30:
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    if t == 8:
        blk = np.frombuffer(raw, np.uint8).reshape(-1, 34)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)
        q = blk[:, 2:].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    if t == 2:
        blk = np.frombuffer(raw, np.uint8).reshape(-1, 18)
        d = blk[:, :2].copy().view("<f2").astype(np.float32)
        qs = blk[:, 2:]
        lo = (qs & 0x0F).astype(np.int32) - 8
        hi = (qs >> 4).astype(np.int32) - 8
        return (d * np.concatenate([lo, hi], axis=1).astype(np.float32)).reshape(-1)
    return None


def safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack_from("<Q", b)[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        assert v["dtype"] == "F32", (k, v["dtype"])
        out[k] = (v["shape"], np.frombuffer(b[8 + n + s:8 + n + e], "<f4"))
    return out


def main():
    b = open(sys.argv[1], "rb").read()
    ref = safetensors(sys.argv[2])
    r = R(b)
    assert b[:4] == b"GGUF", "magic"
    r.p = 4
    assert r.take("<I") == 3, "version"
    nt, nkv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(nkv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    align = kv.get("general.alignment", 32)
    infos = []
    for _ in range(nt):
        name = r.string()
        nd = r.take("<I")
        dims = [r.take("<Q") for _ in range(nd)]
        infos.append((name, dims, r.take("<I"), r.take("<Q")))
    data = (r.p + align - 1) // align * align
    assert all(x == 0 for x in b[r.p:data]), "header padding"
    expect, checked, types = 0, 0, {}
    for name, dims, t, off in infos:
        assert off == expect, (name, off, expect)
        bs, bb = BLOCKS[t]
        n = int(np.prod(dims)) if dims else 1
        assert dims[0] % bs == 0 if dims else bs == 1
        size = n // bs * bb
        expect += (size + align - 1) // align * align
        raw = b[data + off:data + off + size]
        assert len(raw) == size, (name, "past EOF")
        types[NAMES[t]] = types.get(NAMES[t], 0) + 1
        shape = list(reversed(dims))
        if "comfy.gguf.orig_shape." + name in kv:
            shape = kv["comfy.gguf.orig_shape." + name]
        rshape, rvals = ref[name]
        assert rshape == shape, (name, rshape, shape)
        v = dequant(t, raw, n)
        if v is not None:
            assert np.array_equal(v.view(np.uint32), rvals.view(np.uint32)), (name, NAMES[t])
            checked += 1
    assert data + expect == len(b), ("file size", data + expect, len(b))
    print(json.dumps({"tensors": nt, "dequantized": checked, "types": types, "kv": sorted(kv)}))


main()
