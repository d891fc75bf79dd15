#!/usr/bin/env bash
# GPU check of `boundscope profile` (issue 5), for a machine with an NVIDIA
# GPU and driver (made for the lent H200: driver 580 / CUDA 13.0, no network).
# Runs in well under five minutes and prints what it verified.
#
#   scripts/gpu-check.sh BIN_DIR [WORK_DIR]
#
# BIN_DIR holds `boundscope` and `libboundscope_inject.so`, built elsewhere
# (cargo build -p boundscope -p boundscope-inject) and carried here.
# Checks:
#   1. a tiny driver-API program (python3 + ctypes, no PyTorch): kernels,
#      launch calls, copies and fills recorded and matched, latency timestamps;
#   2-4. a PyTorch decode loop (workloads/python/decode_loop.py) plain, under
#      boundscope, and under PyTorch's own profiler (a separate run):
#      kernels recorded vs kernels Kineto records for the same steps,
#      launches matched, dropped records, latency timestamps, wall time with
#      and without boundscope;
#   5. the run summary; 6. what happens when PyTorch's profiler is started
#      inside a boundscope run (two CUPTI subscribers).
set -uo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 BIN_DIR [WORK_DIR]" >&2
    exit 2
fi
BIN=$(cd "$1" && pwd) || exit 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
W=${2:-$(mktemp -d /tmp/bs-gpu-check.XXXXXX)}
mkdir -p "$W"
BS="$BIN/boundscope"
DECODE="$REPO/workloads/python/decode_loop.py"
STEPS=${GPU_CHECK_STEPS:-30}
WARMUP=5
T0=$SECONDS
PASS=0
FAIL=0

[ -x "$BS" ] || { echo "no boundscope binary in $BIN" >&2; exit 2; }
[ -f "$BIN/libboundscope_inject.so" ] || { echo "no libboundscope_inject.so in $BIN" >&2; exit 2; }

section() { echo; echo "=== $*   [t=$((SECONDS - T0)) s]"; }
check() { # name, shell condition
    if eval "$2"; then echo "PASS  $1"; PASS=$((PASS + 1)); else echo "FAIL  $1"; FAIL=$((FAIL + 1)); fi
}
# jq-free JSON field: jget FILE 'python expression on d'
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo "?"; }
# value of key=value printed by a workload
kv() { sed -n "s/^$2=//p" "$1" | tail -1; }
num() { case "$1" in ''|*[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
# "N kernels (M with queued/submitted timestamps)" from a profile output
recorded() { sed -n 's/^  recorded *\([0-9,]*\) kernels (\([0-9,]*\) with.*/\1 \2/p' "$1" | tr -d ','; }

section "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4
python3 --version
HAVE_TORCH=0
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    HAVE_TORCH=1
    python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())"
else
    echo "PyTorch with CUDA not importable: the decode-loop checks are skipped"
fi
"$BS" --version

section "1. tiny driver-API program under boundscope (200 kernels, 1 memset, 1 copy)"
cat > "$W/tiny.py" <<'PY'
import ctypes, sys
N = 200
cuda = ctypes.CDLL("libcuda.so.1")
def ok(rc, what):
    if rc != 0:
        sys.exit(f"{what} failed: CUresult {rc}")
PTX = b""".version 7.0
.target sm_50
.address_size 64
.visible .entry noop()
{
    ret;
}
"""
ok(cuda.cuInit(0), "cuInit")
dev = ctypes.c_int()
ok(cuda.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
ctx = ctypes.c_void_p()
ok(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
ok(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
mod = ctypes.c_void_p()
ok(cuda.cuModuleLoadData(ctypes.byref(mod), PTX), "cuModuleLoadData")
fn = ctypes.c_void_p()
ok(cuda.cuModuleGetFunction(ctypes.byref(fn), mod, b"noop"), "cuModuleGetFunction")
size = 1 << 20
ptr = ctypes.c_uint64()
ok(cuda.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(size)), "cuMemAlloc")
ok(cuda.cuMemsetD8_v2(ptr, ctypes.c_ubyte(7), ctypes.c_size_t(size)), "cuMemsetD8")
for _ in range(N):
    ok(cuda.cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, None, None, None), "cuLaunchKernel")
ok(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
buf = (ctypes.c_ubyte * size)()
ok(cuda.cuMemcpyDtoH_v2(buf, ptr, ctypes.c_size_t(size)), "cuMemcpyDtoH")
ok(cuda.cuMemFree_v2(ptr), "cuMemFree")
print(f"launched={N} first_byte={buf[0]}")
PY
timeout 60 python3 "$W/tiny.py" > "$W/tiny-plain.out" 2>&1
echo "plain run: $(cat "$W/tiny-plain.out")"
rm -rf "$W/tiny"
timeout 120 "$BS" profile --out "$W/tiny" -- python3 "$W/tiny.py" > "$W/tiny.out" 2> "$W/tiny.err"
echo "boundscope exit code: $?"
sed -n 's/^boundscope: /stderr: boundscope: /p' "$W/tiny.err"
grep -E "^  (CUPTI|recorded|launches matched|dropped|buffer callbacks|run complete)|^    (note|warning|error):" "$W/tiny.out"
timeout 60 "$BS" analyze "$W/tiny" --json > "$W/tiny.json" 2> "$W/tiny-analyze.err"
read -r TK TL <<< "$(recorded "$W/tiny.out")"
TM=$(jget "$W/tiny.json" 'd["traces"][0]["trace_window"]["matched_kernels"]')
echo "analyze run back: $(jget "$W/tiny.json" 'd["traces"][0]["trace_window"]["kernels"]') kernels, $TM matched"
check "tiny: 200 kernels recorded" "[ $(num "${TK:-}") -eq 200 ]"
check "tiny: every kernel matched to its cuLaunchKernel" "[ $(num "$TM") -eq 200 ]"
check "tiny: latency timestamps on every kernel" "[ $(num "${TL:-}") -eq 200 ]"
check "tiny: memset and copy recorded" "grep -qE ' 1 memcpy, 1 memset' '$W/tiny.out'"
check "tiny: run complete" "grep -q 'run complete       yes' '$W/tiny.out'"

if [ "$HAVE_TORCH" = 1 ]; then
    ARGS=(--steps "$STEPS" --warmup "$WARMUP")

    section "2. decode loop without boundscope"
    timeout 120 python3 "$DECODE" "${ARGS[@]}" > "$W/plain.out" 2>&1
    cat "$W/plain.out" | tail -4

    section "3. decode loop under boundscope (warm-up steps skipped)"
    rm -rf "$W/decode"
    timeout 180 "$BS" profile --out "$W/decode" --skip-steps "$WARMUP" -- python3 "$DECODE" "${ARGS[@]}" \
        > "$W/decode.out" 2> "$W/decode.err"
    echo "boundscope exit code: $?"
    sed -n 's/^boundscope: /stderr: boundscope: /p' "$W/decode.err"
    grep -E "^(wall_s|step_ms)=" "$W/decode.out"

    section "4. decode loop under PyTorch's profiler (separate run, same steps)"
    timeout 180 python3 "$DECODE" "${ARGS[@]}" --kineto "$W/kineto.json" > "$W/kineto.out" 2>&1
    tail -5 "$W/kineto.out"

    timeout 60 "$BS" analyze "$W/decode" --json > "$W/decode.json" 2>/dev/null
    BK=$(jget "$W/decode.json" 'd["traces"][0]["trace_window"]["kernels"]')
    BM=$(jget "$W/decode.json" 'd["traces"][0]["trace_window"]["matched_kernels"]')
    BSTEPS=$(jget "$W/decode.json" 'len(d["traces"][0]["steps"])')
    read -r _ BL <<< "$(recorded "$W/decode.out")"
    KK=$(kv "$W/kineto.out" kineto_kernels)
    DROPPED=$(sed -n 's/^  dropped *\([0-9,]*\).*/\1/p' "$W/decode.out" | tr -d ',')
    WP=$(kv "$W/plain.out" wall_s)
    WB=$(kv "$W/decode.out" wall_s)
    WK=$(kv "$W/kineto.out" wall_s)
    section "5. comparison"
    printf '  %-44s %s\n' "kernels, boundscope (steps $WARMUP..)" "$BK in $BSTEPS steps"
    printf '  %-44s %s\n' "kernels, PyTorch profiler (same steps)" "${KK:-?}"
    printf '  %-44s %s\n' "kernels matched to their launch call" "$BM"
    printf '  %-44s %s\n' "kernels with queued/submitted timestamps" "${BL:-?}"
    printf '  %-44s %s\n' "dropped records" "${DROPPED:-?}"
    printf '  %-44s %s s\n' "wall time of $STEPS steps, plain" "${WP:-?}"
    printf '  %-44s %s s\n' "wall time, under boundscope" "${WB:-?}"
    printf '  %-44s %s s\n' "wall time, under the PyTorch profiler" "${WK:-?}"
    python3 -c "import sys; p,b=float(sys.argv[1]),float(sys.argv[2]); print(f'  boundscope slowdown: {100*(b/p-1):+.1f}%')" "${WP:-0}" "${WB:-0}" 2>/dev/null || true
    check "decode: $STEPS steps found (NVTX boundscope:step reached CUPTI)" "[ $(num "$BSTEPS") -eq $STEPS ]"
    check "decode: kernels recorded" "[ $(num "$BK") -gt 0 ]"
    check "decode: same kernel count as the PyTorch profiler" "[ $(num "$BK") -eq $(num "${KK:-x}") ]"
    check "decode: >= 99% of kernels matched" "[ $(( $(num "$BM") * 100 )) -ge $(( $(num "$BK") * 99 )) ]"
    check "decode: latency timestamps present" "[ $(num "${BL:-}") -gt 0 ]"
    check "decode: no dropped records" "[ '$(num "${DROPPED:-x}")' = 0 ] && [ -n '${DROPPED:-}' ]"

    section "6. run summary ($W/decode/summary.txt)"
    cat "$W/decode/summary.txt"

    section "7. PyTorch profiler inside a boundscope run (two CUPTI users; informational)"
    rm -rf "$W/both"
    timeout 180 "$BS" profile --out "$W/both" -- python3 "$DECODE" --steps 5 --warmup 1 --kineto "$W/both-kineto.json" \
        > "$W/both.out" 2> "$W/both.err"
    echo "boundscope exit code: $?"
    grep -iE "boundscope:|cupti|warn" "$W/both.err" | head -8
    grep -E "^  (CUPTI|recorded)|^kineto_kernels=" "$W/both.out"
fi

section "done in $((SECONDS - T0)) s; outputs in $W"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
