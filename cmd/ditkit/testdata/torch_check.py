"""Loads ditkit's .pt outputs with real PyTorch and checks them.

Reads a JSON list of jobs on stdin; each job is
  {"file": PATH, "tensors": [{"name","dtype","shape","sha256"}], "wrap": KEY or null,
   "strict": {name: shape} or null}
and prints one JSON object: {"ok": bool, "torch": version, "errors": [...], "checked": n}.
"strict" builds a module with exactly those parameters and calls
load_state_dict(strict=True) — what a user's model does.
"""
import hashlib
import json
import sys

import torch

DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
      "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
      "BOOL": torch.bool}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


class Holder(torch.nn.Module):
    def __init__(self, shapes):
        super().__init__()
        for name, shape in shapes.items():
            mod = self
            parts = name.split(".")
            for p in parts[:-1]:
                if not hasattr(mod, p):
                    mod.add_module(p, torch.nn.Module())
                mod = getattr(mod, p)
            mod.register_parameter(parts[-1], torch.nn.Parameter(torch.zeros(shape), requires_grad=False))


def main():
    jobs = json.load(sys.stdin)
    errors = []
    checked = 0
    for job in jobs:
        f = job["file"]
        try:
            sd = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{f}: torch.load(weights_only=True) failed: {e}")
            continue
        if job.get("wrap"):
            sd = sd[job["wrap"]]
        if type(sd).__name__ != "OrderedDict":
            errors.append(f"{f}: loaded a {type(sd).__name__}, want OrderedDict")
        names = list(sd.keys())
        want = [t["name"] for t in job["tensors"]]
        if names != want:
            errors.append(f"{f}: names {names[:5]}... differ from {want[:5]}...")
            continue
        for t in job["tensors"]:
            v = sd[t["name"]]
            if v.dtype != DT[t["dtype"]] or list(v.shape) != t["shape"]:
                errors.append(f"{f}: {t['name']}: {v.dtype} {list(v.shape)}, want {t['dtype']} {t['shape']}")
                continue
            if hashlib.sha256(raw_bytes(v)).hexdigest() != t["sha256"]:
                errors.append(f"{f}: {t['name']}: bytes differ")
            checked += 1
        if job.get("strict"):
            m = Holder(job["strict"])
            try:
                m.load_state_dict(sd, strict=True)
            except Exception as e:  # noqa: BLE001
                errors.append(f"{f}: load_state_dict(strict=True) failed: {e}")
    print(json.dumps({"ok": not errors, "torch": torch.__version__, "errors": errors, "checked": checked}))


main()
