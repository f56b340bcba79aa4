"""Times a DiT-XL/2 256 px forward in PyTorch (random weights of the real
shapes, the math of facebookresearch/DiT models.py) for `build.sh bench`,
to print next to ditkit's own forward (core/dit/internal/forwardbench reads
these lines): the best of two runs after a warm-up, wall and process CPU
time. Usage: torch_dit_bench.py THREADS."""
import math
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(0)
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
H, D, heads, p, C, G = 1152, 28, 16, 2, 4, 16  # hidden, depth, heads, patch, channels, grid (32/2)


def lin(o, i):
    return torch.randn(o, i) * 0.02, torch.zeros(o)


W = {"x": (torch.randn(H, C, p, p) * 0.02, torch.zeros(H)), "t1": lin(H, 256), "t2": lin(H, H),
     "y": torch.randn(1001, H) * 0.02, "pos": torch.randn(1, G * G, H) * 0.02,
     "blocks": [dict(ada=lin(6 * H, H), qkv=lin(3 * H, H), proj=lin(H, H), fc1=lin(4 * H, H), fc2=lin(H, 4 * H)) for _ in range(D)],
     "fada": lin(2 * H, H), "flin": lin(p * p * 2 * C, H)}


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


@torch.no_grad()
def forward(x, t, y):
    x = F.conv2d(x, W["x"][0], W["x"][1], stride=p).flatten(2).transpose(1, 2) + W["pos"]
    half = 128
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    a = t[:, None].float() * freqs[None]
    tf = torch.cat([torch.cos(a), torch.sin(a)], dim=-1)
    c = F.linear(F.silu(F.linear(tf, *W["t1"])), *W["t2"]) + W["y"][y]
    N, T, _ = x.shape
    for b in W["blocks"]:
        sm, scm, gm, sf, scf, gf = F.linear(F.silu(c), *b["ada"]).chunk(6, dim=1)
        h = modulate(F.layer_norm(x, (H,), eps=1e-6), sm, scm)
        qkv = F.linear(h, *b["qkv"]).reshape(N, T, 3, heads, H // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (H // heads) ** -0.5
        h = (att.softmax(dim=-1) @ v).transpose(1, 2).reshape(N, T, H)
        x = x + gm.unsqueeze(1) * F.linear(h, *b["proj"])
        h = modulate(F.layer_norm(x, (H,), eps=1e-6), sf, scf)
        x = x + gf.unsqueeze(1) * F.linear(F.gelu(F.linear(h, *b["fc1"]), approximate="tanh"), *b["fc2"])
    shift, scale = F.linear(F.silu(c), *W["fada"]).chunk(2, dim=1)
    return F.linear(modulate(F.layer_norm(x, (H,), eps=1e-6), shift, scale), *W["flin"])


for batch in (1, 2):
    x, t, y = torch.randn(batch, C, 32, 32), torch.randint(0, 1000, (batch,)), torch.randint(0, 1000, (batch,))
    forward(x, t, y)  # warm-up
    best, cpu = float("inf"), float("inf")
    for _ in range(2):
        t0, c0 = time.time(), time.process_time()
        forward(x, t, y)
        best, cpu = min(best, time.time() - t0), min(cpu, time.process_time() - c0)
    print(f"torch DiT-XL/2 forward fp32 batch {batch}: {best:.2f} s (cpu {cpu:.2f} s) ({threads} threads, torch {torch.__version__})", flush=True)
