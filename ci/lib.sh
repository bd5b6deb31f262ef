# ci/lib.sh - shared by the ci/ scripts: package set-up and progress lines.
# shellcheck shell=bash

SAFEEXEC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SAFEEXEC_ROOT
JOBS="${JOBS:-$(nproc)}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ensure_packages PKG...: apt-get installs whichever of PKG are missing
# (apt-get update first, once). Needs root, as on CI and the dev machines.
ensure_packages() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null || die "apt-get install ${missing[*]} failed"
}

# What every build needs: compilers, build tools, test and bench libraries.
BASE_PACKAGES=(build-essential cmake ninja-build g++ clang clang-tidy clang-format clang-tools
  cppcheck llvm libclang-rt-14-dev libgtest-dev librapidcheck-dev libbenchmark-dev
  libboost1.81-dev libseccomp-dev python3 zip unzip git)
