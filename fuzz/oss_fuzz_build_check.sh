#!/bin/bash
# oss_fuzz_build_check.sh [options] [REPO_ROOT] - runs the build script the
# way OSS-Fuzz does (fuzz/oss_fuzz_env.sh: clang, libc++ when installed, the
# sanitizer's flags, LIB_FUZZING_ENGINE=-fsanitize=fuzzer, temporary
# $SRC/$OUT/$WORK), then repeats the checks of OSS-Fuzz's bad_build_check on
# what it produced, so that a broken build script fails our CI rather than
# theirs:
#   * $OUT holds each target, <target>_seed_corpus.zip, .dict and .options;
#     the helper child is at $OUT/bin/ and nothing else executable is loose
#     in $OUT; the helper has no fuzz entry point;
#   * each target: x86-64; >= 100 instrumented edges; the sanitizer's calls
#     (ASan build: >= 1000 into ASan, <= 200 into UBSan; UBSan build: >= 168
#     into UBSan, none into ASan; MSan build: >= 1000 into MSan, none into
#     ASan); starts and completes 4 runs without a corpus (-seed=1337
#     -runs=4); replays its unzipped seed corpus without a crash (-runs=0
#     -rss_limit_mb=2560 -timeout=25); and fuzzes 300 runs from it
#     (-seed=1337 -runs=300) reaching >= 100 covered edges.
# The fuzzers run from an empty scratch directory, with no environment hint:
# they must find their helper from argv[0] alone, as on a fuzzing machine.
#
#   --layout cflite    .clusterfuzzlite/ (default): build.sh copied to $SRC
#   --layout oss-fuzz  oss-fuzz/projects/safeexec/: also checks project.yaml
#                      (main_repo, primary_contact, sanitizers,
#                      fuzzing_engines, language), that the Dockerfile clones
#                      main_repo to $SRC/safeexec and copies build.sh to $SRC,
#                      and that this build.sh runs .clusterfuzzlite/build.sh
#                      (one build script: nothing to drift); the checkout is
#                      mounted at $SRC/safeexec, as `helper.py build_fuzzers
#                      safeexec <checkout>` does
#   --sanitizer S      address (default), undefined, memory
#   --targets "A B"    check only these of $OUT's fuzzers (default: all)
#   --dir DIR          use DIR for src/out/work and keep it (default: a
#                      temporary directory, removed at the end)
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev). Without it
# this check FAILS - it never skips (ci/test installs clang).
set -uo pipefail

LAYOUT=cflite
SAN=address
ONLY=""
DIR=""
ROOT_ARG=""
while [ $# -gt 0 ]; do
  case "$1" in
    --layout) LAYOUT="$2"; shift 2 ;;
    --sanitizer) SAN="$2"; shift 2 ;;
    --targets) ONLY="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    -*) echo "oss_fuzz_build_check.sh: unknown option $1" >&2; exit 2 ;;
    *) ROOT_ARG="$1"; shift ;;
  esac
done
ROOT="$(cd "${ROOT_ARG:-$(dirname "$0")/..}" && pwd)"
# shellcheck source=fuzz/oss_fuzz_env.sh
source "$ROOT/fuzz/oss_fuzz_env.sh"
fail() {
  echo "oss-fuzz-build: FAIL: $*" >&2
  exit 1
}

command -v clang >/dev/null && command -v clang++ >/dev/null ||
  fail "clang/clang++ not found. This test runs the build script as OSS-Fuzz would and needs clang with libFuzzer: apt-get install clang libclang-rt-14-dev (ci/test installs them)."
command -v zip >/dev/null || fail "zip not found (build.sh zips the seed corpora): apt-get install zip"
command -v unzip >/dev/null || fail "unzip not found: apt-get install unzip"
command -v objdump >/dev/null || fail "objdump not found: apt-get install binutils"

if [ -n "$DIR" ]; then
  mkdir -p "$DIR"
  TMP="$(cd "$DIR" && pwd)"
  rm -rf "$TMP/src" "$TMP/out" "$TMP/work" "$TMP/run" "$TMP/corpus"
else
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/safeexec-ossfuzz.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
fi
mkdir -p "$TMP/run"
probe="$TMP/probe.cc"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe"
clang++ -fsanitize=fuzzer,address "$probe" -o "$TMP/probe" 2>"$TMP/probe.log" ||
  fail "clang++ cannot link a libFuzzer target (is libclang-rt-14-dev installed?): $(cat "$TMP/probe.log")"

oss_fuzz_env "$SAN" "$TMP" || fail "no OSS-Fuzz environment for sanitizer '$SAN'"
ln -s "$ROOT" "$SRC/safeexec"

case "$LAYOUT" in
  cflite)
    # As .clusterfuzzlite/Dockerfile lays it out.
    cp "$ROOT/.clusterfuzzlite/build.sh" "$SRC/build.sh" ;;
  oss-fuzz)
    project="$ROOT/oss-fuzz/projects/safeexec"
    [ -f "$project/project.yaml" ] && [ -f "$project/Dockerfile" ] && [ -f "$project/build.sh" ] ||
      fail "oss-fuzz/projects/safeexec/ needs project.yaml, Dockerfile and build.sh"
    python3 - "$project" "$SAN" <<'PY' || fail "oss-fuzz/projects/safeexec/ does not meet OSS-Fuzz's project contract (above)"
import re, sys, yaml
project, sanitizer = sys.argv[1], sys.argv[2]
meta = yaml.safe_load(open(f"{project}/project.yaml"))
errors = []
for key in ("homepage", "language", "main_repo", "primary_contact", "sanitizers", "fuzzing_engines"):
    if not meta.get(key):
        errors.append(f"project.yaml: {key} missing")
if meta.get("language") != "c++":
    errors.append(f"project.yaml: language is {meta.get('language')!r}, not 'c++'")
if "@" not in str(meta.get("primary_contact", "")):
    errors.append("project.yaml: primary_contact is not an e-mail address")
if "libfuzzer" not in (meta.get("fuzzing_engines") or []):
    errors.append("project.yaml: fuzzing_engines lacks libfuzzer")
sans = [s if isinstance(s, str) else next(iter(s)) for s in (meta.get("sanitizers") or [])]
if sanitizer not in sans:
    errors.append(f"project.yaml: sanitizers {sans} do not list {sanitizer}, which this check builds")
docker = open(f"{project}/Dockerfile").read()
if not re.search(r"^FROM gcr\.io/oss-fuzz-base/base-builder\s*$", docker, re.M):
    errors.append("Dockerfile: not FROM gcr.io/oss-fuzz-base/base-builder")
clone = re.search(r"git clone\b[^\n]*?\s(\S+)\s+(\S+)\s*$", docker, re.M)
if not clone or clone.group(1).removesuffix(".git") != str(meta.get("main_repo", "")).removesuffix(".git") \
        or clone.group(2) not in ("safeexec", "$SRC/safeexec"):
    errors.append("Dockerfile: no `git clone ... <main_repo> safeexec` into $SRC")
if not re.search(r"^WORKDIR\s+(\$SRC/)?safeexec\s*$", docker, re.M):
    errors.append("Dockerfile: WORKDIR is not $SRC/safeexec")
if not re.search(r"^COPY\s+build\.sh\s+\$SRC/\s*$", docker, re.M):
    errors.append("Dockerfile: does not COPY build.sh $SRC/")
build = open(f"{project}/build.sh").read()
if not re.search(r'^exec\s+"?\$SRC/safeexec/\.clusterfuzzlite/build\.sh"?\s*$', build, re.M):
    errors.append("build.sh: does not exec $SRC/safeexec/.clusterfuzzlite/build.sh (the one build script)")
for e in errors:
    print("oss-fuzz-build:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY
    cp "$project/build.sh" "$SRC/build.sh" ;;
  *) fail "--layout is cflite or oss-fuzz, not '$LAYOUT'" ;;
esac

echo "oss-fuzz-build: $LAYOUT layout, SANITIZER=$SANITIZER, libc++ $([ "$OSS_FUZZ_LIBCXX" = 1 ] && echo yes || echo "no (not installed: libc++-14-dev)")"
start=$(date +%s)
(cd "$SRC/safeexec" && bash -eu "$SRC/build.sh") >"$TMP/build.log" 2>&1 || {
  tail -n 60 "$TMP/build.log" >&2
  fail "build.sh failed (last lines above)"
}
echo "oss-fuzz-build: build.sh done in $(($(date +%s) - start)) s"

all_targets=()
for options in "$ROOT"/fuzz/*.options; do all_targets+=("$(basename "$options" .options)"); done
[ "${#all_targets[@]}" -gt 0 ] || fail "no fuzz/*.options: no targets to check"
# build.sh builds one fuzzer per fuzz/<target>.options.
built=("${all_targets[@]}")
targets=("${built[@]}")
if [ -n "$ONLY" ]; then
  targets=()
  for t in $ONLY; do
    [[ " ${built[*]} " == *" $t "* ]] || fail "--targets: $t is not built for $SAN (built: ${built[*]})"
    targets+=("$t")
  done
fi

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
expected_exes="$(printf '%s\n' "${built[@]}" | sort)"
loose_exes="$(find "$OUT" -maxdepth 1 -type f -perm -u+x -printf '%f\n' | sort)"
[ "$loose_exes" = "$expected_exes" ] ||
  fail "executables loose in \$OUT are [$(echo $loose_exes)], expected exactly the fuzzers [$(echo $expected_exes)]"

calls() { objdump -dC "$1" | grep -cE "callq?\s+[0-9a-f]+\s+<__$2" || true; }
status=0
for t in "${targets[@]}"; do
  f="$OUT/$t"
  for extra in "${t}_seed_corpus.zip" "$t.dict" "$t.options"; do
    [ -f "$OUT/$extra" ] || fail "$t: \$OUT/$extra missing"
  done
  file "$f" | grep -q "x86-64" || fail "$t: not an x86-64 binary: $(file "$f")"

  asan_calls=$(calls "$f" asan)
  ubsan_calls=$(calls "$f" ubsan)
  msan_calls=$(calls "$f" msan)
  case "$SAN" in
    address)
      [ "$asan_calls" -ge 1000 ] || fail "$t: only $asan_calls calls into ASan (< 1000): not an ASan build"
      [ "$ubsan_calls" -le 200 ] || fail "$t: $ubsan_calls calls into UBSan (> 200) in an ASan build"
      [ "$msan_calls" -le 3 ] || fail "$t: $msan_calls calls into MSan in an ASan build" ;;
    undefined)
      [ "$ubsan_calls" -ge 168 ] || fail "$t: only $ubsan_calls calls into UBSan (< 168): not a UBSan build"
      [ "$asan_calls" -eq 0 ] || fail "$t: $asan_calls calls into ASan in a UBSan build"
      [ "$msan_calls" -le 3 ] || fail "$t: $msan_calls calls into MSan in a UBSan build" ;;
    memory)
      [ "$msan_calls" -ge 1000 ] || fail "$t: only $msan_calls calls into MSan (< 1000): not an MSan build"
      [ "$asan_calls" -eq 0 ] || fail "$t: $asan_calls calls into ASan in an MSan build"
      [ "$ubsan_calls" -le 200 ] || fail "$t: $ubsan_calls calls into UBSan (> 200) in an MSan build" ;;
  esac

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
  edges=$(grep -oP "INFO: Loaded \d+ module.*\(.*(counters|guards)\):\s+\K\d+" "$log" | head -n1)
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
  echo "oss-fuzz-build: $t ok: $edges edges instrumented, $cov covered after 300 runs, calls asan/ubsan/msan $asan_calls/$ubsan_calls/$msan_calls, $got seeds"
done

leftovers="$(find "$TMP/run" -mindepth 1 | head -n 5)"
[ -z "$leftovers" ] || fail "the fuzzers wrote into their working directory: $leftovers"
echo "oss-fuzz-build: PASS ($LAYOUT, $SAN, ${#targets[@]} targets: ${targets[*]}) in $(($(date +%s) - start)) s"
exit $status
