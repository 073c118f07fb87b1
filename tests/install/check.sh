#!/usr/bin/env bash
# `make install` into a scratch prefix, then an application built the way
# docs/client.md says (pkg-config, shared and static) must compile, link
# and run; and the shared library must export only raftmq_* names.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/raftmq-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
make --no-print-directory BUILD="$BUILD" PREFIX="$prefix" install >"$prefix.log" 2>&1 ||
    { cat "$prefix.log" >&2; rm -f "$prefix.log"; exit 1; }
rm -f "$prefix.log"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
for f in include/raftmq.h lib/libraftmq.a lib/libraftmq.so lib/libraftmq.so.0 bin/raftmq-broker \
         bin/raftmq-produce bin/raftmq-consume bin/raftmq-admin; do
    [ -e "$prefix/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
# shellcheck disable=SC2046 # pkg-config prints separate words
cc -std=c11 -Wall -Werror tests/install/app.c $(pkg-config --cflags --libs raftmq) -o "$prefix/app-shared"
LD_LIBRARY_PATH=$prefix/lib "$prefix/app-shared"
# libraftmq linked statically, its dependencies shared (Debian's libzmq.pc
# cannot link libzmq statically: its private libraries name a missing file).
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror tests/install/app.c $(pkg-config --cflags raftmq) "$prefix/lib/libraftmq.a" \
    $(pkg-config --libs libzmq liblz4 msgpack) -o "$prefix/app-static"
"$prefix/app-static"
bad=$(nm -D --defined-only "$prefix/lib/libraftmq.so" | awk '{print $3}' | grep -v '^raftmq_' || true)
[ -z "$bad" ] || { echo "libraftmq.so exports non-API symbols: $bad" >&2; exit 1; }
echo "install check: passed"
