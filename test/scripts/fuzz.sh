#!/usr/bin/env bash
# make fuzz: install clang if missing, build the libFuzzer targets, run each in turn for
# FUZZ_SECONDS (default 600) on one core at nice 19, starting from its committed corpus
# test/fuzz/corpus/<target>/. New inputs go to a scratch directory and are then merged back,
# minimized (-merge=1), into the corpus. Prints each target's executions; exits non-zero if any
# target crashed (its input is saved as build/fuzz/crash-<target>-*, its log as build/fuzz/<target>.log).
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-600}
targets=(vector_text vector_binary segment)

bash test/scripts/deps.sh fuzz || exit 1
binaries=()
for t in "${targets[@]}"; do binaries+=("build/fuzz/${t}_fuzz"); done
nice -n 19 make -s "${binaries[@]}" || { echo "fuzz build failed"; exit 1; }

summary=()
failed=()
for t in "${targets[@]}"; do
    corpus=test/fuzz/corpus/$t
    scratch=build/fuzz/new/$t
    merged=build/fuzz/merged/$t
    log=build/fuzz/$t.log
    rm -rf "$scratch" "$merged"
    mkdir -p "$scratch" "$merged" "$corpus"

    echo "fuzzing $t for $seconds s"
    start=$(date +%s)
    # libFuzzer writes new inputs to the first directory only; the committed corpus is read.
    nice -n 19 "build/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="build/fuzz/crash-$t-" "$scratch" "$corpus" >"$log" 2>&1
    rc=$?
    elapsed=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ $rc -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|runtime error|check failed|Test unit written' "$log" | head -n 20
        failed+=("$t")
        summary+=("$t: CRASHED after $elapsed s (exit $rc), ${execs:-?} executions; see $log")
        continue
    fi

    # Minimize the committed corpus and the new inputs together, then replace the corpus with the result.
    if ! nice -n 19 "build/fuzz/${t}_fuzz" -merge=1 "$merged" "$corpus" "$scratch" >"build/fuzz/$t.merge.log" 2>&1; then
        failed+=("$t")
        summary+=("$t: merge failed; see build/fuzz/$t.merge.log")
        continue
    fi
    find "$corpus" -type f -delete
    find "$merged" -type f -exec cp -t "$corpus" {} +
    files=$(find "$corpus" -type f | wc -l)
    bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
    summary+=("$t: ${execs:-?} executions in $elapsed s, corpus $files files, $bytes bytes")
done

printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}"
    exit 1
fi
