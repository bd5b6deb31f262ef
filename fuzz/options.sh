# shellcheck shell=bash
# fuzz/options.sh - sourced by ci/fuzz and ci/cflite-local: a target's
# .options file read as ClusterFuzz reads it.

# options_flags FILE: the [libfuzzer] section as libFuzzer flags, one per
# line (key = value -> -key=value; a dict is relative to FILE's folder).
options_flags() {
  local file="$1" section="" line key value
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    [[ "$line" =~ ^[[:space:]]*$ ]] && continue
    if [[ "$line" =~ ^\[(.*)\] ]]; then section="${BASH_REMATCH[1]}"; continue; fi
    [ "$section" = libfuzzer ] || continue
    key="$(echo "${line%%=*}" | tr -d '[:space:]')"
    value="$(echo "${line#*=}" | sed 's/^[[:space:]]*//;s/[[:space:]]*$//')"
    [ "$key" = dict ] && value="$(cd "$(dirname "$file")" && pwd)/$value"
    printf -- '-%s=%s\n' "$key" "$value"
  done <"$file"
}

# sanitizer_options FILE SECTION: the [asan] or [ubsan] section as the
# target's ASAN_OPTIONS / UBSAN_OPTIONS (key=value joined with ':').
sanitizer_options() {
  local file="$1" want="$2" section="" line key value out=""
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line="${line%%#*}"
    [[ "$line" =~ ^[[:space:]]*$ ]] && continue
    if [[ "$line" =~ ^\[(.*)\] ]]; then section="${BASH_REMATCH[1]}"; continue; fi
    [ "$section" = "$want" ] || continue
    key="$(echo "${line%%=*}" | tr -d '[:space:]')"
    value="$(echo "${line#*=}" | tr -d '[:space:]')"
    out="${out:+$out:}$key=$value"
  done <"$file"
  echo "$out"
}
