# shellcheck shell=bash
# fuzz/oss_fuzz_env.sh - sourced: oss_fuzz_env SANITIZER ROOT_DIR exports the
# environment OSS-Fuzz's base-builder image gives build.sh, for clang with
# libc++, into ROOT_DIR/{src,out,work}:
#   SRC OUT WORK                  $SRC/safeexec is the checkout (a symlink),
#                                 $SRC/build.sh the build script (the caller
#                                 puts it there, as the Dockerfile does)
#   CC CXX CCC                    clang, clang++
#   CFLAGS                        -O1 -fno-omit-frame-pointer -gline-tables-only
#                                 -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#                                 + the sanitizer's flags + the coverage flags
#   CXXFLAGS                      $CFLAGS -stdlib=libc++ (when libc++ is here:
#                                 Debian's libc++-14-dev; else without, and
#                                 OSS_FUZZ_LIBCXX=0 says so)
#   LIB_FUZZING_ENGINE            -fsanitize=fuzzer (+ libstdc++ with libc++:
#                                 Debian's libFuzzer needs it, see below)
#   SANITIZER FUZZING_ENGINE ARCHITECTURE FUZZING_LANGUAGE
# The sanitizer flags are base-builder's SANITIZER_FLAGS_<name>; "coverage"
# is its source-based coverage build (no sanitizer). base-builder's run-time
# UBSAN_OPTIONS=silence_unsigned_overflow=1 is exported too, for the runs
# that follow the build.
oss_fuzz_sanitizer_flags() {
  case "$1" in
    address) echo "-fsanitize=address -fsanitize-address-use-after-scope" ;;
    undefined)
      local checks="array-bounds,bool,builtin,enum,float-divide-by-zero,function,integer-divide-by-zero,null,object-size,return,returns-nonnull-attribute,shift,signed-integer-overflow,unsigned-integer-overflow,unreachable,vla-bound,vptr"
      echo "-fsanitize=$checks -fno-sanitize-recover=${checks/unsigned-integer-overflow,/}" ;;
    memory) echo "-fsanitize=memory -fsanitize-memory-track-origins" ;;
    coverage) echo "" ;;
    *) return 1 ;;
  esac
}

oss_fuzz_libcxx_works() {
  local dir rc
  dir="$(mktemp -d)"
  printf '#include <string>\nint main() { return std::string("x").size() == 1 ? 0 : 1; }\n' >"$dir/t.cc"
  clang++ -stdlib=libc++ "$dir/t.cc" -o "$dir/t" >/dev/null 2>&1 && "$dir/t"
  rc=$?
  rm -rf "$dir"
  return $rc
}

oss_fuzz_links_engine() {
  local dir rc
  dir="$(mktemp -d)"
  echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$dir/f.cc"
  # shellcheck disable=SC2086
  clang++ $1 "$dir/f.cc" $2 -o "$dir/f" >/dev/null 2>&1
  rc=$?
  rm -rf "$dir"
  return $rc
}

oss_fuzz_env() {
  local sanitizer="$1" root="$2" flags coverage
  flags="$(oss_fuzz_sanitizer_flags "$sanitizer")" || {
    echo "oss_fuzz_env: unknown sanitizer '$sanitizer' (address, undefined, memory, coverage)" >&2
    return 1
  }
  coverage="-fsanitize=fuzzer-no-link"
  if [ "$sanitizer" = coverage ]; then
    coverage="-fprofile-instr-generate -fcoverage-mapping -pthread -Wl,--no-as-needed -Wl,-ldl -Wl,-lm -Wno-unused-command-line-argument"
  fi
  mkdir -p "$root/src" "$root/out" "$root/work"
  export SRC="$root/src" OUT="$root/out" WORK="$root/work"
  export CC=clang CXX=clang++ CCC=clang++
  export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $flags $coverage"
  CFLAGS="$(echo "$CFLAGS" | tr -s ' ')"
  if oss_fuzz_libcxx_works; then
    export CXXFLAGS="$CFLAGS -stdlib=libc++" OSS_FUZZ_LIBCXX=1
  else
    export CXXFLAGS="$CFLAGS" OSS_FUZZ_LIBCXX=0
  fi
  export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
  # OSS-Fuzz's libFuzzer is built against libc++; Debian's
  # (libclang-rt-14-dev) against libstdc++, which a -stdlib=libc++ link then
  # lacks: add it here (its names, std::__cxx11, do not meet libc++'s). By
  # file name: clang turns a plain -lstdc++ into -lc++ under -stdlib=libc++.
  if [ "$OSS_FUZZ_LIBCXX" = 1 ] && ! oss_fuzz_links_engine "$CXXFLAGS" "$LIB_FUZZING_ENGINE"; then
    LIB_FUZZING_ENGINE="-fsanitize=fuzzer -l:libstdc++.so.6"
    oss_fuzz_links_engine "$CXXFLAGS" "$LIB_FUZZING_ENGINE" || {
      echo "oss_fuzz_env: cannot link libFuzzer with -stdlib=libc++" >&2
      return 1
    }
  fi
  export SANITIZER="$sanitizer" FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++
  # As on the runners: UBSan's unsigned overflow is a coverage signal only.
  export UBSAN_OPTIONS="silence_unsigned_overflow=1"
  unset SAFEEXEC_TEST_CHILD
}
