#!/bin/sh
# Compile the shared library and the program on the host (the test
# environment image has no compiler): prebuilt/ goes into the build context.
set -eu
src=$(dirname "$0")
out=$1
mkdir -p "$out"
gcc -shared -fPIC -Wl,-soname,libgreet.so.1 -o "$out/libgreet.so.1.0.0" "$src/libgreet.c"
ln -sf libgreet.so.1.0.0 "$out/libgreet.so.1"
gcc -o "$out/greet" "$src/main.c" -I"$src" -L"$out" -l:libgreet.so.1
cp "$src/greet.h" "$src/greet.pc" "$out/"
