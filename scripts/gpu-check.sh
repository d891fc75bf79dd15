#!/usr/bin/env bash
# GPU check of `boundscope profile`, for a machine with an NVIDIA GPU and
# driver (made for a fresh H200: driver 580 / CUDA 13.0, no network). Budget:
# under 6 minutes without transformers, 9 with it. The last screen of output
# is a table (check, result, figure) that says everything; every log and JSON
# result is kept.
#
#   scripts/gpu-check.sh BIN_DIR [WORK_DIR]
#
# BIN_DIR holds `boundscope` and `libboundscope_inject.so`, built elsewhere
# (cargo build -p boundscope -p boundscope-inject) and carried here. Outputs
# go to WORK_DIR, else $OUT/gpu-check when OUT is set, else a new /tmp dir;
# results.tsv / results.json there hold the final table.
#
# Checks (driver-API programs need only python3 + ctypes; the rest PyTorch):
#   tiny      200 kernels, a memset, a copy: counts, matching, latency
#             coverage, exactly one libcupti mapped, nothing incomplete
#   endings   --duration, SIGTERM to boundscope, os._exit in the program
#   decode    workloads/python/decode_loop.py plain, under boundscope (latency
#             timestamps on, then off), under torch.profiler: kernel counts
#             against Kineto's, matching, drops, NVTX steps and their
#             durations against the loop's own step time (clock alignment),
#             overhead with latency timestamps on and off
#   features  CUDA-graph replay, a Triton kernel (cuLaunchKernelEx), a
#             DataLoader with forked workers, in one program
#   both      the program runs torch.profiler itself inside a boundscope run
#   lowering  workloads/python/run_workload.py (Llama-3.2-1B decode and
#             prefill, batch 1) under boundscope, its kernels per operator
#             against `boundscope lowering` for the installed transformers
#             release (needs transformers)
set -uo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 BIN_DIR [WORK_DIR]" >&2
    exit 2
fi
BIN=$(cd "$1" && pwd) || exit 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${2:-}" ]; then W=$2
elif [ -n "${OUT:-}" ]; then W=$OUT/gpu-check
else W=$(mktemp -d /tmp/bs-gpu-check.XXXXXX)
fi
mkdir -p "$W"
W=$(cd "$W" && pwd)
BS="$BIN/boundscope"
DECODE="$REPO/workloads/python/decode_loop.py"
STEPS=${GPU_CHECK_STEPS:-30}
WARMUP=5
T0=$SECONDS
RESULTS="$W/results.tsv"
: > "$RESULTS"

[ -x "$BS" ] || { echo "no boundscope binary in $BIN" >&2; exit 2; }
[ -f "$BIN/libboundscope_inject.so" ] || { echo "no libboundscope_inject.so in $BIN" >&2; exit 2; }

section() { echo; echo "=== $*   [t=$((SECONDS - T0)) s]"; }
# row NAME RESULT FIGURE: one line of the final table (figure on one line)
row() {
    local fig
    fig=$(printf '%s' "$3" | tr '\n\t' '  ' | cut -c1-120)
    echo "$2  $1  ($fig)"
    printf '%s\t%s\t%s\n' "$1" "$2" "$fig" >> "$RESULTS"
}
# check NAME CONDITION FIGURE: PASS/FAIL with the figure behind it
check() {
    local r=FAIL
    if eval "$2"; then r=PASS; fi
    row "$1" "$r" "$3"
}
# info NAME FIGURE: a measured figure, no verdict
info() { row "$1" info "$2"; }
skip() { row "$1" skip "$2"; }
# jq-free JSON field: jget FILE 'python expression on d'
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null || echo "?"; }
# value of key=value printed by a program
kv() { sed -n "s/^$2=//p" "$1" | tail -1; }
num() { case "$1" in ''|*[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
# "N kernels (M with queued/submitted timestamps, P%)": "N M"
recorded() { sed -n 's/^  recorded *\([0-9,]*\) kernels (\([0-9,]*\) with.*/\1 \2/p' "$1" | tr -d ','; }
# "left out  A incomplete records ..., B hot query API calls ...; C kernels' ... cleared": "A B C"
leftout() {
    sed -n 's/^  left out *\([0-9,]*\) incomplete records.*, \([0-9,]*\) hot query.*; \([0-9,]*\) kernels.*/\1 \2 \3/p' "$1" | tr -d ','
}
pct() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{100*a/b:.1f}%' if b else '-')" "$1" "$2" 2>/dev/null || echo "-"; }
profile() { # OUT_NAME TIMEOUT_S [boundscope profile args...] -- CMD...
    local name=$1 t=$2
    shift 2
    rm -rf "${W:?}/$name"
    timeout "$t" "$BS" profile --out "$W/$name" "$@" > "$W/$name.out" 2> "$W/$name.err"
    local rc=$?
    echo "boundscope exit code $rc; $(grep -c '^boundscope:' "$W/$name.err") boundscope line(s) on stderr"
    sed -n 's/^boundscope: /  stderr: boundscope: /p' "$W/$name.err" | head -5
    grep -E "^  (CUPTI|recorded|launches matched|left out|dropped|run complete)|^    (note|warning|error):" "$W/$name.out"
    return $rc
}

# Prints, at the program's exit, how many distinct libcupti files it has
# mapped, then runs the script named by its first argument as __main__.
cat > "$W/with_maps.py" <<'PY'
import atexit, os, runpy, sys
def maps():
    files = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "/libcupti" in p:
                files.add(p)
    print(f"libcupti_mapped={len(files)} {' '.join(sorted(files))}", flush=True)
atexit.register(maps)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
PY

section "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4 | tee "$W/machine.txt"
python3 --version
HAVE_TORCH=0
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    HAVE_TORCH=1
    python3 -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())" | tee -a "$W/machine.txt"
else
    echo "PyTorch with CUDA not importable: the PyTorch checks are skipped"
fi
"$BS" --version

# A driver-API program (no PyTorch): N kernels, a memset and a copy; with
# LOOP_S it keeps launching for that many seconds; with EXIT=os it ends by
# os._exit (no atexit handlers run).
cat > "$W/tiny.py" <<'PY'
import ctypes, os, sys, time
N = int(os.environ.get("TINY_N", "200"))
LOOP_S = float(os.environ.get("LOOP_S", "0"))
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
launched = 0
t_end = time.time() + LOOP_S
while True:
    for _ in range(N):
        ok(cuda.cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, None, None, None), "cuLaunchKernel")
    launched += N
    ok(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
    if time.time() >= t_end:
        break
    time.sleep(0.01)
buf = (ctypes.c_ubyte * size)()
ok(cuda.cuMemcpyDtoH_v2(buf, ptr, ctypes.c_size_t(size)), "cuMemcpyDtoH")
ok(cuda.cuMemFree_v2(ptr), "cuMemFree")
print(f"launched={launched} first_byte={buf[0]}", flush=True)
if os.environ.get("EXIT") == "os":
    os._exit(0)
PY

section "tiny: driver-API program (200 kernels, 1 memset, 1 copy)"
timeout 60 python3 "$W/tiny.py" > "$W/tiny-plain.out" 2>&1
echo "plain run: $(cat "$W/tiny-plain.out")"
profile tiny 120 -- python3 "$W/with_maps.py" "$W/tiny.py"
timeout 60 "$BS" analyze "$W/tiny" --json > "$W/tiny.json" 2> "$W/tiny-analyze.err"
read -r TK TL <<< "$(recorded "$W/tiny.out")"
read -r TZ TH TQ <<< "$(leftout "$W/tiny.out")"
TM=$(jget "$W/tiny.json" 'd["traces"][0]["trace_window"]["matched_kernels"]')
TMAP=$(sed -n 's/^libcupti_mapped=\([0-9]*\).*/\1/p' "$W/tiny.out" | tail -1)
check "tiny: 200 kernels recorded" "[ $(num "${TK:-}") -eq 200 ]" "${TK:-?} kernels"
check "tiny: kernels matched to cuLaunchKernel" "[ $(num "$TM") -eq 200 ]" "$TM of ${TK:-?}"
check "tiny: latency timestamp coverage" "[ $(num "${TL:-}") -eq 200 ]" "$(pct "${TL:-0}" "${TK:-0}")"
check "tiny: memset and copy recorded" "grep -qE ' 1 memcpy, 1 memset' '$W/tiny.out'" "$(grep -oE '[0-9]+ memcpy, [0-9]+ memset' "$W/tiny.out" | head -1)"
check "tiny: exactly one libcupti mapped" "[ '$(num "${TMAP:-x}")' = 1 ]" "${TMAP:-?}: $(sed -n 's/^libcupti_mapped=[0-9]* //p' "$W/tiny.out" | tail -1)"
check "tiny: zero-timestamp records" "[ '${TZ:-x}' = 0 ]" "${TZ:-?} dropped"
check "tiny: out-of-order latency times" "[ '${TQ:-x}' = 0 ]" "${TQ:-?} cleared"
info "tiny: hot query calls left out" "${TH:-?}"
check "tiny: clock is CLOCK_MONOTONIC (timestamp callback)" "grep -q 'clock CLOCK_MONOTONIC' '$W/tiny.out'" "$(grep -o 'clock [^,]*$' "$W/tiny.out" | head -1)"
check "tiny: run complete" "grep -q 'run complete       yes' '$W/tiny.out'" "$(sed -n 's/^  run complete *//p' "$W/tiny.out")"

section "endings: --duration, SIGTERM to boundscope, os._exit in the program"
LOOP_S=30 TINY_N=50 profile duration 60 --duration 3 -- python3 "$W/tiny.py"
read -r DK _ <<< "$(recorded "$W/duration.out")"
check "--duration 3: program stopped, records kept" "[ $(num "${DK:-}") -gt 0 ] && grep -q 'run complete       yes' '$W/duration.out'" "${DK:-?} kernels, complete $(sed -n 's/^  run complete *//p' "$W/duration.out" | cut -c1-40)"
rm -rf "$W/sigterm"
LOOP_S=30 TINY_N=50 timeout 60 "$BS" profile --out "$W/sigterm" -- python3 "$W/tiny.py" > "$W/sigterm.out" 2> "$W/sigterm.err" &
BSPID=$!
sleep 4
kill -TERM "$BSPID" 2>/dev/null
wait "$BSPID"
echo "boundscope exit code $?"
read -r SK _ <<< "$(recorded "$W/sigterm.out")"
check "SIGTERM: program ended, records kept" "[ $(num "${SK:-}") -gt 0 ]" "${SK:-?} kernels; $(sed -n 's/^  program *//p' "$W/sigterm.out" | cut -c1-40); complete $(sed -n 's/^  run complete *//p' "$W/sigterm.out" | cut -c1-30)"
LOOP_S=3 TINY_N=50 EXIT=os profile osexit 60 -- python3 "$W/tiny.py"
read -r OK_ _ <<< "$(recorded "$W/osexit.out")"
OL=$(kv "$W/osexit.out" launched | cut -d' ' -f1)
check "os._exit: all but the last flush period kept" "[ $(num "${OK_:-}") -gt 0 ]" "${OK_:-?} of ${OL:-?} kernels; complete $(sed -n 's/^  run complete *//p' "$W/osexit.out" | cut -c1-30)"

if [ "$HAVE_TORCH" = 1 ]; then
    ARGS=(--steps "$STEPS" --warmup "$WARMUP")

    section "decode: plain, under boundscope (latency on, off), under torch.profiler"
    timeout 120 python3 "$DECODE" "${ARGS[@]}" > "$W/plain.out" 2>&1
    tail -2 "$W/plain.out"
    profile decode 180 --skip-steps "$WARMUP" -- python3 "$W/with_maps.py" "$DECODE" "${ARGS[@]}"
    BOUNDSCOPE_LATENCY=0 profile decode-nolat 180 --skip-steps "$WARMUP" -- python3 "$DECODE" "${ARGS[@]}"
    timeout 180 python3 "$DECODE" "${ARGS[@]}" --kineto "$W/kineto.json" > "$W/kineto.out" 2>&1
    tail -3 "$W/kineto.out"

    timeout 60 "$BS" analyze "$W/decode" --json > "$W/decode.json" 2>/dev/null
    BK=$(jget "$W/decode.json" 'd["traces"][0]["trace_window"]["kernels"]')
    BM=$(jget "$W/decode.json" 'd["traces"][0]["trace_window"]["matched_kernels"]')
    BSTEPS=$(jget "$W/decode.json" 'len(d["traces"][0]["steps"])')
    BSTEP_MS=$(jget "$W/decode.json" 'sum(s["end_ns"]-s["start_ns"] for s in d["traces"][0]["steps"])/max(1,len(d["traces"][0]["steps"]))/1e6')
    read -r _ BL <<< "$(recorded "$W/decode.out")"
    read -r BZ BH BQ <<< "$(leftout "$W/decode.out")"
    BMAP=$(sed -n 's/^libcupti_mapped=\([0-9]*\).*/\1/p' "$W/decode.out" | tail -1)
    KK=$(kv "$W/kineto.out" kineto_kernels)
    DROPPED=$(sed -n 's/^  dropped *\([0-9,]*\).*/\1/p' "$W/decode.out" | tr -d ',')
    WP=$(kv "$W/plain.out" wall_s)
    WB=$(kv "$W/decode.out" wall_s)
    WN=$(kv "$W/decode-nolat.out" wall_s)
    WK=$(kv "$W/kineto.out" wall_s)
    STEP_MS=$(kv "$W/decode.out" step_ms)
    slow() { python3 -c "import sys; p,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{100*(b/p-1):+.1f}% ({b:.3f} s vs {p:.3f} s)')" "$1" "$2" 2>/dev/null || echo "?"; }
    near() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if b > 0 and abs(a-b) <= 0.1*b else 1)" "$1" "$2" 2>/dev/null; }
    check "decode: $STEPS NVTX steps found" "[ $(num "$BSTEPS") -eq $STEPS ]" "$BSTEPS steps"
    check "decode: kernels vs torch.profiler (same steps)" "[ $(num "$BK") -gt 0 ] && [ $(num "$BK") -eq $(num "${KK:-x}") ]" "$BK vs ${KK:-?}"
    check "decode: >= 99% of kernels matched" "[ $(( $(num "$BM") * 100 )) -ge $(( $(num "$BK") * 99 )) ] && [ $(num "$BK") -gt 0 ]" "$BM of $BK"
    check "decode: latency timestamp coverage > 0" "[ $(num "${BL:-}") -gt 0 ]" "$(pct "${BL:-0}" "$BK")"
    check "decode: exactly one libcupti mapped" "[ '$(num "${BMAP:-x}")' = 1 ]" "${BMAP:-?}: $(sed -n 's/^libcupti_mapped=[0-9]* //p' "$W/decode.out" | tail -1)"
    check "decode: no dropped records" "[ -n '${DROPPED:-}' ] && [ '$(num "${DROPPED:-x}")' = 0 ]" "${DROPPED:-?}"
    check "decode: zero-timestamp records" "[ '${BZ:-x}' = 0 ]" "${BZ:-?} dropped"
    check "decode: out-of-order latency times" "[ '${BQ:-x}' = 0 ]" "${BQ:-?} cleared"
    info "decode: hot query calls left out" "${BH:-?}"
    check "decode: NVTX step time vs the loop's own (clock alignment, 10%)" "near '$BSTEP_MS' '${STEP_MS:-0}'" "$(printf '%.3f' "$BSTEP_MS" 2>/dev/null || echo "$BSTEP_MS") ms vs ${STEP_MS:-?} ms"
    info "overhead, latency timestamps on" "$(slow "${WP:-0}" "${WB:-0}")"
    info "overhead, latency timestamps off" "$(slow "${WP:-0}" "${WN:-0}")"
    info "overhead, torch.profiler" "$(slow "${WP:-0}" "${WK:-0}")"
    cp "$W/decode/summary.txt" "$W/decode-summary.txt" 2>/dev/null

    section "features: CUDA-graph replay, Triton kernel, DataLoader with forked workers"
    cat > "$W/features.py" <<'PY'
import os, torch
x = torch.randn(1024, 1024, device="cuda")
# CUDA graph: 3 kernels captured, replayed 20 times
g = torch.cuda.CUDAGraph()
s = torch.cuda.Stream()
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    y = (x * 2).relu().sum()
torch.cuda.current_stream().wait_stream(s)
with torch.cuda.graph(g):
    y = (x * 2).relu().sum()
for _ in range(20):
    g.replay()
torch.cuda.synchronize()
print("graph_replays=20")
try:
    import triton, triton.language as tl
    @triton.jit
    def add(a, b, o, n, BLOCK: tl.constexpr):
        i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = i < n
        tl.store(o + i, tl.load(a + i, mask=m) + tl.load(b + i, mask=m), mask=m)
    a = torch.randn(4096, device="cuda"); b = torch.randn_like(a); o = torch.empty_like(a)
    for _ in range(10):
        add[(4,)](a, b, o, a.numel(), BLOCK=1024)
    torch.cuda.synchronize()
    print("triton_launches=10")
except Exception as e:
    print(f"triton_unavailable={type(e).__name__}")
ds = torch.utils.data.TensorDataset(torch.arange(64, dtype=torch.float32))
dl = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context="fork")
total = 0.0
for (b,) in dl:
    total += float((b.cuda() * 2).sum())
print(f"dataloader_batches=8 total={total}")
PY
    T_F=$SECONDS
    profile features 150 -- python3 "$W/features.py"
    F_S=$((SECONDS - T_F))
    timeout 60 "$BS" analyze "$W/features" --json > "$W/features.json" 2>/dev/null
    GK=$(jget "$W/features.json" 'd["traces"][0]["trace_window"]["kernels"]')
    read -r FK FL <<< "$(recorded "$W/features.out")"
    check "features: CUDA-graph replay recorded" "grep -q '^graph_replays=20' '$W/features.out' && [ $(num "$GK") -ge 60 ]" "$GK kernels; latency coverage $(pct "${FL:-0}" "${FK:-0}") (graph kernels have none)"
    if grep -q '^triton_launches=10' "$W/features.out"; then
        check "features: Triton kernel (cuLaunchKernelEx) recorded" "grep -q 'cuLaunchKernelEx' '$W/features.out' || zcat '$W/features/trace.json.gz' 2>/dev/null | grep -q '\"add'" "$(grep -o 'cuLaunchKernelEx[^,]*' "$W/features.out" | head -1)"
    else
        skip "features: Triton kernel" "$(kv "$W/features.out" triton_unavailable)"
    fi
    check "features: DataLoader with forked workers, run complete" "grep -q '^dataloader_batches=8' '$W/features.out' && grep -q 'run complete       yes' '$W/features.out'" "${F_S} s; $(sed -n 's/^  run complete *//p' "$W/features.out" | cut -c1-40)"

    section "both: the program runs torch.profiler itself inside a boundscope run"
    profile both 180 -- python3 "$DECODE" --steps 5 --warmup 1 --kineto "$W/both-kineto.json"
    grep -iE "cupti|subscri" "$W/both.err" | head -5
    info "both: torch.profiler inside boundscope" "kineto_kernels=$(kv "$W/both.out" kineto_kernels); $(grep -ciE 'MULTIPLE_SUBSCRIBERS|another profiler' "$W/both.err" "$W/both.out" | awk -F: '{s+=$2} END {print s}') second-subscriber message(s)"

    # The reference runner against the lowering of the installed transformers
    # release (docs/workloads.md, "Checking against a real trace").
    TF=$(python3 -c "import transformers; print(transformers.__version__)" 2>/dev/null)
    if [ -n "$TF" ]; then
        SMS=$(python3 -c "import torch; print(torch.cuda.get_device_properties(0).multi_processor_count)" 2>/dev/null)
        case "$SMS" in 114) SIMP=sim:h100-pcie ;; 108) SIMP=sim:a100-sxm ;; *) SIMP=sim:h200 ;; esac
        RUNNER="$REPO/workloads/python/run_workload.py"
        for PH in "decode 1024" "prefill 128"; do
            read -r PHASE SEQ <<< "$PH"
            section "lowering: run_workload.py llama-3.2-1b:$PHASE batch 1 seq $SEQ (transformers $TF) against the lowering"
            profile "runner-$PHASE" 120 --skip-steps 2 -- python3 "$RUNNER" --model llama-3.2-1b --phase "$PHASE" \
                --batch 1 --seq "$SEQ" --steps 3 --warmup 2 --dtype bf16
            timeout 60 "$BS" lowering --workload "llama-3.2-1b:$PHASE" --batch 1 --seq "$SEQ" --stack "$TF" \
                --platform "$SIMP" --against "$W/runner-$PHASE" > "$W/lowering-$PHASE.txt" 2>&1
            cat "$W/lowering-$PHASE.txt"
            info "lowering: llama-3.2-1b:$PHASE per-operator kernels (transformers $TF, $SIMP)" \
                "$(tail -1 "$W/lowering-$PHASE.txt")"
        done
    else
        skip "lowering: reference runner vs lowering" "transformers not importable"
    fi
else
    skip "PyTorch checks" "torch with CUDA not importable"
fi

section "done in $((SECONDS - T0)) s; logs, runs and results in $W"
python3 - "$RESULTS" "$W/results.json" <<'PY'
import json, sys
rows = [(l.rstrip("\n").split("\t") + ["", ""])[:3] for l in open(sys.argv[1]) if l.strip()]
json.dump([{"check": c, "result": r, "figure": f} for c, r, f in rows], open(sys.argv[2], "w"), indent=1)
w = max(len(c) for c, _, _ in rows) if rows else 10
print(f"{'check':<{w}}  result  figure")
for c, r, f in rows:
    print(f"{c:<{w}}  {r:<6}  {f}")
PY
PASS=$(grep -c $'\tPASS\t' "$RESULTS")
FAIL=$(grep -c $'\tFAIL\t' "$RESULTS")
echo "$PASS passed, $FAIL failed, $((SECONDS - T0)) s"
[ "$FAIL" -eq 0 ]
