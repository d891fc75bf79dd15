#!/usr/bin/env python3
"""Build synthetic Kineto traces that stress boundscope's cost in one dimension.

Usage:
    python3 make_stress_trace.py OUT.json[.gz] --kernels N [--names D] [--name-bytes B] [--long-name-mb M]

  --kernels N        kernels, each with its cudaLaunchKernel call (correlation ids 1..N), 10 per ProfilerStep
  --names D          distinct kernel names, used round robin (torch.compile / Triton traces carry thousands)
  --name-bytes B     length of each kernel name (padded), default 40
  --long-name-mb M   additionally one kernel whose name is M MiB long (far longer than any real name)

The trace is well-formed: launches precede their kernels by a few us, kernels do not overlap.
Only the standard library is used; the events are streamed to the file.
"""
import argparse
import gzip


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--kernels", type=int, required=True)
    p.add_argument("--names", type=int, default=10)
    p.add_argument("--name-bytes", type=int, default=40)
    p.add_argument("--long-name-mb", type=float, default=0.0)
    a = p.parse_args()
    opener = gzip.open if a.out.endswith(".gz") else open
    with opener(a.out, "wt") as f:
        f.write('{"schemaVersion": 1, "traceEvents": [\n')
        first = True

        def emit(s):
            nonlocal first
            f.write(s if first else ",\n" + s)
            first = False

        step_len = 10 * 20
        for step in range((a.kernels + 9) // 10):
            emit('{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#%d", "pid": 1, "tid": 1, '
                 '"ts": %d, "dur": %d}' % (step, 1000 + step * step_len, step_len))
        for i in range(a.kernels):
            t = 1000 + i * 20
            corr = i + 1
            name = ("triton_kernel_%d_" % (i % a.names)).ljust(a.name_bytes, "x")
            emit('{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, '
                 '"ts": %d, "dur": 4, "args": {"correlation": %d}}' % (t + 1, corr))
            emit('{"ph": "X", "cat": "kernel", "name": "%s", "pid": 0, "tid": 7, "ts": %d.500, "dur": 10, '
                 '"args": {"device": 0, "stream": 7, "correlation": %d}}' % (name, t + 8, corr))
        if a.long_name_mb > 0:
            t = 1000 + a.kernels * 20
            f.write(',\n{"ph": "X", "cat": "kernel", "name": "')
            left = int(a.long_name_mb * (1 << 20))
            block = "y" * (1 << 20)
            while left > 0:
                f.write(block[: min(left, len(block))])
                left -= len(block)
            f.write('", "pid": 0, "tid": 7, "ts": %d, "dur": 10, "args": {"device": 0, "stream": 7}}' % t)
        f.write("\n]}\n")


if __name__ == "__main__":
    main()
