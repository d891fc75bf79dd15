#!/usr/bin/env bash
# Seed corpora for the fuzz targets from the repository's own inputs:
# the small shared Kineto traces (decompressed) and the platform files.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/kineto corpus/run_reader corpus/platform corpus/cli
for t in old_format_inference cpu_only mi250_train_hip a100_simple_add; do
    gzip -dc "../testdata/traces/$t.json.gz" > "corpus/kineto/$t.json"
done
cp ../workloads/platforms/*.toml corpus/platform/
# The run seed of the reader property tests: a 3-step run in the wire format.
BOUNDSCOPE_FUZZ_SEED_DIR="$PWD/corpus/run_reader" \
    cargo test -q --manifest-path ../Cargo.toml -p boundscope-trace --test proptest_readers undamaged_seeds_read
ls corpus/run_reader/run.bsr
