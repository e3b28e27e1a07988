#!/usr/bin/env bash
# Fuzzing in CI: every cargo-fuzz target of every fuzz crate of the repository, for SECONDS
# each (default 30), on a temporary copy of its committed corpus (seeds/ and regressions/).
#
#   scripts/fuzz.sh [SECONDS]
#
# The fuzz crates are what scripts/fuzz-crates.sh finds; their targets are what
# `cargo fuzz list` prints, so new crates and targets need no change here. Targets run
# FUZZ_JOBS at a time (default: the number of cores), built once per crate with `-O -a`
# (release, debug assertions and overflow checks). Stable is enough: RUSTC_BOOTSTRAP=1
# unlocks cargo-fuzz's nightly flags. A crash fails the run, naming the target and the
# input file, and prints the input as hex (see the fuzz READMEs: "A crash in CI").
# The crates build into one target directory, target/fuzz (ignored): they share most
# dependencies (zmtp-codec/fuzz's and zmq-transports/fuzz's are nearly all among
# zmq-async/fuzz's), so the second and third builds reuse them. Nothing else in the clone
# is written.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
fuzz_target="$PWD/target/fuzz"
jobs=${FUZZ_JOBS:-$(nproc)}
cargo_fuzz_version=0.13.1
export RUSTC_BOOTSTRAP=1

if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds == 0)); then
    echo "usage: scripts/fuzz.sh [SECONDS]  (a positive whole number of seconds per target)" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $cargo_fuzz_version"
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

started=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/zmq-fuzz.XXXXXX")
echo "== fuzz work directory (corpus copies, logs, crash inputs): $work"

# Fuzz crates: the directories holding them (cargo fuzz runs from a fuzz dir's parent).
crates=()
while IFS= read -r fuzz_dir; do
    crates+=("$(dirname "$fuzz_dir")")
done < <(bash scripts/fuzz-crates.sh)
if ((${#crates[@]} == 0)); then
    echo "no fuzz crates found" >&2
    exit 1
fi

# One line per target: "<crate dir> <target>".
targets=()
for crate in "${crates[@]}"; do
    echo "== building the fuzz targets of $crate/fuzz (cargo fuzz build -O -a)"
    build_start=$(date +%s)
    (cd "$crate" && cargo fuzz build -O -a --target-dir "$fuzz_target")
    echo "   built in $(($(date +%s) - build_start)) s"
    while IFS= read -r t; do
        [[ -n $t ]] && targets+=("$crate $t")
    done < <(cd "$crate" && cargo fuzz list)
done

# Runs one target; writes "<seconds> <execs> <cov> <result>" to $work/<crate>/<target>/result.
run_target() {
    local crate=$1 target=$2
    local dir="$work/$crate/$target"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    for src in "$crate/fuzz/seeds/$target" "$crate/fuzz/regressions/$target"; do
        if [[ -d $src ]]; then
            find "$src" -maxdepth 1 -type f -exec cp {} "$dir/corpus/" \;
        fi
    done
    local t0 rc=0
    t0=$(date +%s)
    # A fallible allocation must be able to fail, as it does outside the sanitizer: the
    # codec probes a frame's declared size with `try_reserve_exact` (FrameTooLargeToAllocate),
    # which AddressSanitizer turns into a crash above 1 TiB (allocator_may_return_null) and
    # libFuzzer above -rss_limit_mb (-malloc_limit_mb, raised to ASan's 1 TiB). An infallible
    # allocation that fails still aborts; memory actually used is still bounded by the RSS limit.
    (cd "$crate" && ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1" \
        cargo fuzz run -O -a --target-dir "$fuzz_target" "$target" "$dir/corpus" -- \
        -max_total_time="$seconds" -timeout=20 -print_final_stats=1 -malloc_limit_mb=1048576 \
        -artifact_prefix="$dir/artifacts/") >"$dir/log" 2>&1 || rc=$?
    local took=$(($(date +%s) - t0))
    local execs cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n1)
    cov=$(grep -Eo 'cov: [0-9]+' "$dir/log" | tail -n1 | cut -d' ' -f2 || true)
    local result=ok
    if ((rc != 0)); then
        result=CRASH
    fi
    echo "$took ${execs:--} ${cov:--} $result" >"$dir/result"
    echo "   $crate/$target: $result (${took} s, ${execs:-?} execs, cov ${cov:-?})"
}

echo "== fuzzing ${#targets[@]} targets for $seconds s each, $jobs at a time"
running=0
for entry in "${targets[@]}"; do
    read -r crate target <<<"$entry"
    run_target "$crate" "$target" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
printf '\n%-40s %8s %12s %8s  %s\n' target seconds execs cov result
for entry in "${targets[@]}"; do
    read -r crate target <<<"$entry"
    dir="$work/$crate/$target"
    if [[ -f $dir/result ]]; then
        read -r took execs cov result <"$dir/result"
    else
        took=- execs=- cov=- result=CRASH
    fi
    printf '%-40s %8s %12s %8s  %s\n' "$crate/$target" "$took" "$execs" "$cov" "$result"
    [[ $result == ok ]] || failed=1
done
echo "fuzzing took $(($(date +%s) - started)) s in all (builds included)"

if ((failed == 0)); then
    rm -rf "$work"
    exit 0
fi

for entry in "${targets[@]}"; do
    read -r crate target <<<"$entry"
    dir="$work/$crate/$target"
    if [[ -f $dir/result ]] && [[ $(cut -d' ' -f4 "$dir/result") == ok ]]; then
        continue
    fi
    echo
    echo "=================== FUZZ FAILURE: $crate/fuzz target '$target' ==================="
    # The report starts at the panic or sanitizer error (a stack overflow's backtrace has
    # thousands of frames: its first 40 lines say where).
    start=$(grep -n -m1 -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|deadly signal|fatal runtime error' "$dir/log" | cut -d: -f1 || true)
    if [[ -n $start ]]; then
        echo "--- libFuzzer's report (from line $start of $dir/log):"
        tail -n +"$start" "$dir/log" | head -n 40
        echo "..."
        grep -E '^SUMMARY|Test unit written' "$dir/log" || true
    else
        echo "--- last 60 lines of the libFuzzer log ($dir/log):"
        tail -n 60 "$dir/log" || true
    fi
    for input in "$dir"/artifacts/*; do
        [[ -f $input ]] || continue
        size=$(wc -c <"$input")
        echo "--- crash input: $input ($size bytes)"
        echo "--- as hex (to a file: tr -d '\\n' | xxd -r -p > $(basename "$input")):"
        head -c 65536 "$input" | od -An -v -tx1 | tr -d ' \n' | fold -w 64
        echo
        if ((size > 65536)); then
            echo "--- (only the first 64 KiB shown; the input has $size bytes)"
        fi
        echo "--- reproduce: cd $crate && ASAN_OPTIONS=allocator_may_return_null=1 RUSTC_BOOTSTRAP=1 cargo fuzz run -O -a $target <file> -- -malloc_limit_mb=1048576"
        echo "--- once fixed, commit it as $crate/fuzz/regressions/$target/<name> (see $crate/fuzz/README.md)"
    done
done
exit 1
