#!/bin/bash
# oss_fuzz_build_check.sh REPO_ROOT - runs .clusterfuzzlite/build.sh the way
# OSS-Fuzz does (clang, -fsanitize=fuzzer-no-link + AddressSanitizer flags,
# LIB_FUZZING_ENGINE=-fsanitize=fuzzer, temporary $SRC/$OUT/$WORK), then
# repeats the checks of OSS-Fuzz's bad_build_check on what it produced, so
# that a broken build script fails our CI rather than theirs:
#   * $OUT holds each target, <target>_seed_corpus.zip, .dict and .options;
#     the helper child is at $OUT/bin/ and nothing else executable is loose
#     in $OUT; the helper has no fuzz entry point;
#   * each target: x86-64; >= 100 instrumented edges; >= 1000 calls into ASan
#     and <= 200 into UBSan (an ASan build); starts and completes 4 runs
#     without a corpus (-seed=1337 -runs=4); replays its unzipped seed corpus
#     without a crash (-runs=0 -rss_limit_mb=2560 -timeout=25); and fuzzes
#     300 runs from it (-seed=1337 -runs=300) reaching >= 100 covered edges.
# The fuzzers run from an empty scratch directory, with no environment hint:
# they must find their helper from argv[0] alone, as on a fuzzing machine.
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev). Without it
# this check FAILS - it never skips (ci/test installs clang).
set -uo pipefail

ROOT="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
fail() {
  echo "oss-fuzz-build: FAIL: $*" >&2
  exit 1
}

command -v clang >/dev/null && command -v clang++ >/dev/null ||
  fail "clang/clang++ not found. This test runs .clusterfuzzlite/build.sh as OSS-Fuzz would and needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev (ci/test installs them)."
command -v zip >/dev/null || fail "zip not found (build.sh zips the seed corpora): apt-get install zip"
command -v unzip >/dev/null || fail "unzip not found: apt-get install unzip"
command -v objdump >/dev/null || fail "objdump not found: apt-get install binutils"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/safeexec-ossfuzz.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/src" "$TMP/out" "$TMP/work" "$TMP/run"
probe="$TMP/probe.cc"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe"
clang++ -fsanitize=fuzzer,address "$probe" -o "$TMP/probe" 2>"$TMP/probe.log" ||
  fail "clang++ cannot link a libFuzzer target (is libclang-rt-14-dev installed?): $(cat "$TMP/probe.log")"

# As the Dockerfile lays it out: the repository at $SRC/safeexec, build.sh at $SRC.
ln -s "$ROOT" "$TMP/src/safeexec"
cp "$ROOT/.clusterfuzzlite/build.sh" "$TMP/src/build.sh"

# OSS-Fuzz's ASan + libFuzzer environment (base-builder's defaults; its
# -stdlib=libc++ is left out: libc++ is not installed here, and build.sh
# passes whatever $CXXFLAGS holds).
export CC=clang CXX=clang++ CCC=clang++
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
export SRC="$TMP/src" OUT="$TMP/out" WORK="$TMP/work"
export SANITIZER=address FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++
unset SAFEEXEC_TEST_CHILD

start=$(date +%s)
(cd "$SRC/safeexec" && bash -eu "$SRC/build.sh") >"$TMP/build.log" 2>&1 || {
  tail -n 60 "$TMP/build.log" >&2
  fail "build.sh failed (last lines above)"
}
echo "oss-fuzz-build: build.sh done in $(($(date +%s) - start)) s"

targets=()
for options in "$ROOT"/fuzz/*.options; do targets+=("$(basename "$options" .options)"); done
[ "${#targets[@]}" -gt 0 ] || fail "no fuzz/*.options: no targets to check"

# The layout of $OUT.
[ -x "$OUT/bin/safeexec-test-child" ] || fail "\$OUT/bin/safeexec-test-child missing or not executable"
! grep -q LLVMFuzzerTestOneInput "$OUT/bin/safeexec-test-child" ||
  fail "the helper child contains LLVMFuzzerTestOneInput (coverage mode would take it for a fuzzer)"
if [ "$(uname -m)" = x86_64 ] || [ "$(uname -m)" = aarch64 ]; then
  [ -x "$OUT/bin/safeexec-fuzz-child" ] || fail "\$OUT/bin/safeexec-fuzz-child (the light child) missing"
  ! grep -q LLVMFuzzerTestOneInput "$OUT/bin/safeexec-fuzz-child" ||
    fail "the light child contains LLVMFuzzerTestOneInput"
  "$OUT/bin/safeexec-fuzz-child" argv x | cmp -s - <(printf 'x\0') ||
    fail "the light child does not print its argv"
fi
expected_exes="$(printf '%s\n' "${targets[@]}" | sort)"
loose_exes="$(find "$OUT" -maxdepth 1 -type f -perm -u+x -printf '%f\n' | sort)"
[ "$loose_exes" = "$expected_exes" ] ||
  fail "executables loose in \$OUT are [$(echo $loose_exes)], expected exactly the fuzzers [$(echo $expected_exes)]"

status=0
for t in "${targets[@]}"; do
  f="$OUT/$t"
  for extra in "${t}_seed_corpus.zip" "$t.dict" "$t.options"; do
    [ -f "$OUT/$extra" ] || fail "$t: \$OUT/$extra missing"
  done
  file "$f" | grep -q "x86-64" || fail "$t: not an x86-64 binary: $(file "$f")"

  asan_calls=$(objdump -dC "$f" | grep -cE "callq?\s+[0-9a-f]+\s+<__asan")
  ubsan_calls=$(objdump -dC "$f" | grep -cE "callq?\s+[0-9a-f]+\s+<__ubsan")
  [ "$asan_calls" -ge 1000 ] || fail "$t: only $asan_calls calls into ASan (< 1000): not an ASan build"
  [ "$ubsan_calls" -le 200 ] || fail "$t: $ubsan_calls calls into UBSan (> 200) in an ASan build"

  corpus="$TMP/corpus/$t"
  mkdir -p "$corpus"
  unzip -q "$OUT/${t}_seed_corpus.zip" -d "$corpus" || fail "$t: cannot unzip its seed corpus"
  want=$(find "$ROOT/corpus/$t" -type f | wc -l)
  got=$(find "$corpus" -type f | wc -l)
  [ "$got" -eq "$want" ] || fail "$t: seed corpus zip holds $got files, corpus/$t has $want"

  log="$TMP/$t.startup.log"
  (cd "$TMP/run" && "$f" -seed=1337 -runs=4) >"$log" 2>&1
  grep -q "Done 4 runs" "$log" || { cat "$log" >&2; fail "$t: startup check (-seed=1337 -runs=4) did not complete"; }
  ! grep -q "no interesting inputs were found" "$log" || fail "$t: no coverage instrumentation"
  edges=$(grep -oP "INFO: Loaded \d+ module.*\(\K\d+(?= inline 8-bit counters)" "$log" | head -n1)
  [ -n "$edges" ] && [ "$edges" -ge 100 ] || fail "$t: ${edges:-no} instrumented edges (< 100)"

  log="$TMP/$t.seeds.log"
  (cd "$TMP/run" && "$f" -rss_limit_mb=2560 -timeout=25 -runs=0 "$corpus") >"$log" 2>&1 ||
    { tail -n 40 "$log" >&2; fail "$t: crashes on its seed corpus"; }

  log="$TMP/$t.fuzz.log"
  (cd "$TMP/run" && "$f" -seed=1337 -runs=300 -rss_limit_mb=2560 -timeout=25 \
    -artifact_prefix="$TMP/run/$t-" "$corpus") >"$log" 2>&1 ||
    { tail -n 40 "$log" >&2; fail "$t: 300 fuzzing runs from the seed corpus failed"; }
  grep -q "Done 300 runs" "$log" || { tail -n 20 "$log" >&2; fail "$t: the 300 runs did not complete"; }
  cov=$(grep -oP "\bcov: \K\d+" "$log" | tail -n1)
  [ -n "$cov" ] && [ "$cov" -ge 100 ] || fail "$t: reached ${cov:-no} covered edges after 300 runs (< 100)"
  echo "oss-fuzz-build: $t ok: $edges edges instrumented, $cov covered after 300 runs, $asan_calls ASan calls, $got seeds"
done

leftovers="$(find "$TMP/run" -mindepth 1 | head -n 5)"
[ -z "$leftovers" ] || fail "the fuzzers wrote into their working directory: $leftovers"
echo "oss-fuzz-build: PASS (${#targets[@]} targets) in $(($(date +%s) - start)) s"
exit $status
