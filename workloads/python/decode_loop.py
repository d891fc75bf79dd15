#!/usr/bin/env python3
"""A small LLM-style decode loop in plain PyTorch (random weights, no downloads).

Each step runs one token through a stack of decoder layers (RMSNorm, QKV
projection, attention over a growing KV cache, output projection, SwiGLU MLP)
for a batch of sequences, the way eager frameworks dispatch small kernels:
at small batch sizes it is CPU-bound (launch overhead), at large ones
GPU-bound. Every step is an NVTX range named `boundscope:step`, which
`boundscope profile` uses as steps (`--skip-steps` skips the warm-up).

    python3 decode_loop.py --batch 8 --steps 20 --warmup 5
    python3 decode_loop.py --kineto trace.json      # PyTorch profiler run of the same steps

Prints one `key=value` line per result for scripts (scripts/gpu-check.sh).
"""

import argparse
import json
import math
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--context", type=int, default=128, help="tokens in the KV cache before the first step")
    p.add_argument("--steps", type=int, default=20, help="measured steps")
    p.add_argument("--warmup", type=int, default=5, help="steps before the measured ones (also NVTX-marked)")
    p.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="bfloat16")
    p.add_argument("--kineto", metavar="OUT", help="profile the measured steps with torch.profiler and write a Chrome trace")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


class Layer:
    def __init__(self, hidden, heads, dtype, device, gen):
        def w(*shape):
            return (torch.randn(*shape, generator=gen, device=device) / math.sqrt(shape[-1])).to(dtype)

        self.heads = heads
        self.qkv = w(3 * hidden, hidden)
        self.out = w(hidden, hidden)
        self.gate_up = w(8 * hidden, hidden)
        self.down = w(hidden, 4 * hidden)
        self.norm1 = torch.ones(hidden, dtype=dtype, device=device)
        self.norm2 = torch.ones(hidden, dtype=dtype, device=device)

    @staticmethod
    def rmsnorm(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * weight

    def step(self, x, cache_k, cache_v, pos):
        b, h = x.shape
        d = h // self.heads
        q, k, v = torch.nn.functional.linear(self.rmsnorm(x, self.norm1), self.qkv).split(h, dim=-1)
        cache_k[:, :, pos] = k.view(b, self.heads, d)
        cache_v[:, :, pos] = v.view(b, self.heads, d)
        keys, values = cache_k[:, :, : pos + 1], cache_v[:, :, : pos + 1]
        scores = torch.einsum("bhd,bhtd->bht", q.view(b, self.heads, d), keys) / math.sqrt(d)
        attn = torch.einsum("bht,bhtd->bhd", scores.softmax(-1), values).reshape(b, h)
        x = x + torch.nn.functional.linear(attn, self.out)
        gate, up = torch.nn.functional.linear(self.rmsnorm(x, self.norm2), self.gate_up).chunk(2, dim=-1)
        return x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, self.down)


def main():
    a = parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("decode_loop.py: no CUDA device visible to PyTorch")
    device = torch.device("cuda")
    dtype = getattr(torch, a.dtype)
    gen = torch.Generator(device=device).manual_seed(a.seed)
    layers = [Layer(a.hidden, a.heads, dtype, device, gen) for _ in range(a.layers)]
    d = a.hidden // a.heads
    total = a.context + a.warmup + a.steps + 1
    caches = [
        (
            torch.zeros(a.batch, a.heads, total, d, dtype=dtype, device=device),
            torch.zeros(a.batch, a.heads, total, d, dtype=dtype, device=device),
        )
        for _ in layers
    ]
    x = torch.randn(a.batch, a.hidden, generator=gen, device=device).to(dtype)
    torch.cuda.synchronize()

    def step(i):
        nonlocal x
        torch.cuda.nvtx.range_push("boundscope:step")
        pos = a.context + i
        for layer, (ck, cv) in zip(layers, caches):
            x = layer.step(x, ck, cv, pos)
        x = x / x.norm(dim=-1, keepdim=True)  # keeps values bounded over many steps
        torch.cuda.synchronize()  # a decode step ends when its token is known
        torch.cuda.nvtx.range_pop()

    for i in range(a.warmup):
        step(i)

    prof = None
    if a.kineto:
        from torch.profiler import ProfilerActivity, profile

        prof = profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
        prof.__enter__()
    t0 = time.perf_counter()
    for i in range(a.steps):
        step(a.warmup + i)
    wall = time.perf_counter() - t0
    if prof is not None:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(a.kineto)
        with open(a.kineto) as f:
            events = json.load(f).get("traceEvents", [])
        kernels = sum(1 for e in events if e.get("cat") in ("kernel", "Kernel") and e.get("ph") == "X")
        print(f"kineto_kernels={kernels}")
        print(f"kineto_trace={a.kineto}")
    print(f"batch={a.batch}")
    print(f"steps={a.steps}")
    print(f"wall_s={wall:.6f}")
    print(f"step_ms={1000 * wall / max(a.steps, 1):.3f}")


if __name__ == "__main__":
    main()
