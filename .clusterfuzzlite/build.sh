#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build of safeexec's fuzz targets.
#
# The contract (https://google.github.io/oss-fuzz/getting-started/new-project-guide/):
# the builder image sets $SRC (sources; the Dockerfile copies this repository
# to $SRC/safeexec), $WORK (scratch), $OUT (what the fuzzing machines get),
# $CC/$CXX/$CFLAGS/$CXXFLAGS (clang with the sanitizer and coverage flags of
# this build, and -stdlib=libc++) and $LIB_FUZZING_ENGINE (the engine to link).
# So everything linked into a fuzzer is compiled here, from source, with
# those flags: the core library included, never a prebuilt one.
#
# $OUT receives, per target listed in fuzz/*.options:
#   <target>                   the fuzzer
#   <target>_seed_corpus.zip   corpus/<target>/, flattened
#   <target>.dict, .options    from fuzz/
# and the helper children the spawning targets start, at $OUT/bin/: every
# executable loose in $OUT is taken for a fuzzer by ClusterFuzzLite's coverage
# mode. The targets find it from dirname(argv[0]) in LLVMFuzzerInitialize,
# since only $OUT exists on a fuzzing machine.
#
# safeexec is C++ only: $CC and $CFLAGS have nothing to compile; they are
# printed with the rest of the toolchain for the build log.

REPO="${SAFEEXEC_SRC:-$SRC/safeexec}"
BUILD="$WORK/safeexec-fuzz-build"
CXXSTD="-std=c++20"
# The fuzzers link the seam-enabled core (no fault is ever armed) for its
# pipe2/clone counters; see fuzz/fuzz_utils.hpp, SpawnAttempts.
DEFINES="-DSAFEEXEC_FAULT_INJECTION=1"

echo "safeexec build.sh: CC=$CC CXX=$CXX"
echo "  CFLAGS=$CFLAGS"
echo "  CXXFLAGS=$CXXFLAGS"
echo "  LIB_FUZZING_ENGINE=$LIB_FUZZING_ENGINE SRC=$SRC OUT=$OUT WORK=$WORK"

rm -rf "$BUILD"
mkdir -p "$BUILD/core" "$OUT/bin"

# 1. The core, every source file of core/src (the fault-injection table too).
jobs="$(nproc 2>/dev/null || echo 2)"
for src in "$REPO"/core/src/*.cpp "$REPO"/core/src/posix/*.cpp; do
  obj="$BUILD/core/$(basename "$src" .cpp).o"
  echo "$CXX $CXXFLAGS $CXXSTD $DEFINES -I$REPO/core/include -I$REPO/core/src -I$REPO/core/src/posix -c $src -o $obj"
done | xargs -P "$jobs" -I{} sh -c '{}'
ar rcs "$BUILD/libsafeexec_fuzz.a" "$BUILD"/core/*.o

# 2. The fuzz targets: one per fuzz/<target>.options.
targets=()
for options in "$REPO"/fuzz/*.options; do
  targets+=("$(basename "$options" .options)")
done
for t in "${targets[@]}"; do
  $CXX $CXXFLAGS $CXXSTD $DEFINES -I"$REPO/core/include" -I"$REPO/fuzz" \
    "$REPO/fuzz/$t.cpp" "$BUILD/libsafeexec_fuzz.a" $LIB_FUZZING_ENGINE -lpthread -o "$OUT/$t"
  cp "$REPO/fuzz/$t.dict" "$REPO/fuzz/$t.options" "$OUT/"
  rm -f "$OUT/${t}_seed_corpus.zip"
  (cd "$REPO/corpus/$t" && zip -q -j -r "$OUT/${t}_seed_corpus.zip" .)
done

# 3. The helper child: a separate program, so no sanitizer, coverage or
#    profiling flag (it would only slow every spawn and, in coverage builds,
#    drop .profraw files); only the flags that choose the ABI and standard
#    library are kept. Static when the toolchain can, so that it runs on the
#    fuzzing machine whatever libraries are there and starts fast.
helper_flags=""
for f in $CXXFLAGS; do
  case "$f" in
    -stdlib=*|-m32|-m64|-march=*|-O*|-g*) helper_flags="$helper_flags $f" ;;
  esac
done
helper_src="$REPO/core/tests/helper/safeexec_test_child.cpp"
if ! $CXX $helper_flags $CXXSTD -static "$helper_src" -o "$OUT/bin/safeexec-test-child" 2>/dev/null; then
  echo "safeexec build.sh: static helper link failed; linking it dynamically"
  $CXX $helper_flags $CXXSTD "$helper_src" -o "$OUT/bin/safeexec-test-child"
fi

# 4. The light child of the spawning targets (fuzz/fuzz_child.cpp): no C
#    library at all, its own _start, so none of the build's flags (no
#    sanitizer, coverage, -stdlib) - only its own. x86-64 and AArch64; if it
#    cannot be built the targets use the full helper, which has the same modes.
light_flags="-std=c++20 -O2 -ffreestanding -fno-exceptions -fno-rtti -fno-stack-protector -fno-builtin -fno-pic -fno-asynchronous-unwind-tables -nostdlib -static"
if ! $CXX $light_flags "$REPO/fuzz/fuzz_child.cpp" -o "$OUT/bin/safeexec-fuzz-child"; then
  echo "safeexec build.sh: the light child did not build; the targets will start the full helper"
  rm -f "$OUT/bin/safeexec-fuzz-child"
fi

echo "safeexec build.sh: built ${targets[*]}, bin/safeexec-test-child and bin/safeexec-fuzz-child in $OUT"
