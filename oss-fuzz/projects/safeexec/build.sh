#!/bin/bash -eu
# OSS-Fuzz build of safeexec. The build itself lives in the safeexec
# repository, shared with ClusterFuzzLite: one script, nothing to drift.
exec "$SRC/safeexec/.clusterfuzzlite/build.sh"
