#!/usr/bin/env bash
# Builds the static library and runs the C API test (tests/c/capi_test.c)
# with -std=c99 -Wall -Wextra -Werror -pedantic, then again under
# AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/../.."
CC=${CC:-cc}
cargo build --release --lib
libs=$(cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs 2>&1 |
    sed -n 's/.*native-static-libs: //p' | tail -1)
out=target/c-tests
mkdir -p "$out"
flags=(-std=c99 -Wall -Wextra -Werror -pedantic -Iinclude)
"$CC" "${flags[@]}" -O1 tests/c/capi_test.c target/release/liblutgemm.a $libs -lpthread -o "$out/capi_test"
"$out/capi_test"
"$CC" "${flags[@]}" -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
    tests/c/capi_test.c target/release/liblutgemm.a $libs -lpthread -o "$out/capi_test_asan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 "$out/capi_test_asan"
