#!/usr/bin/env bash
# A short, coverage-guided fuzz run of every target (`parse`, `check`), as CI
# runs it: `bash lang/fuzz/run.sh [SECONDS_PER_TARGET]` (default 45).
#
# Builds the targets with libFuzzer's coverage instrumentation on stable Rust
# (the flags cargo-fuzz passes, without a sanitizer: the code is safe Rust, the
# bugs sought are panics, stack overflows, hangs and runaway memory), seeds a
# fresh corpus with the kept inputs (lang/tests/fuzz/) and every .tpt file of
# the repository, and runs each target. A crash, a timeout or an out-of-memory
# fails the script and leaves the input in lang/fuzz/artifacts/: add it to
# lang/tests/fuzz/ when fixing it, so that the regression test keeps it.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-45}"
TARGET="$(rustc -vV | sed -n 's/^host: //p')"

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# `--target` keeps these flags away from build scripts, which are not fuzzed.
cargo build --release --locked --bins --target "$TARGET"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/seed" artifacts
cp ../tests/fuzz/* "$WORK/seed/"
(cd ../.. && find examples tests lang/tests stdlib -name '*.tpt' -type f -not -path '*/target/*') |
  while read -r f; do cp "../../$f" "$WORK/seed/$(printf '%s' "$f" | cksum | cut -d' ' -f1).tpt"; done

for t in parse check; do
  mkdir -p "$WORK/$t"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s, seeded with $(ls "$WORK/seed" | wc -l) inputs" >&2
  "target/$TARGET/release/$t" "$WORK/$t" "$WORK/seed" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=60 -rss_limit_mb=4096 \
    -artifact_prefix="artifacts/$t-" -print_final_stats=1 2>"$WORK/$t.log" || {
    tail -40 "$WORK/$t.log" >&2
    echo "fuzz: $t found an input that fails; it is in lang/fuzz/artifacts/" >&2
    exit 1
  }
  grep -E '^stat::number_of_executed_units|^Done' "$WORK/$t.log" >&2 || true
done
