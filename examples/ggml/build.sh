#!/usr/bin/env bash
# Builds real ggml (llama.cpp's, vendored by the llama-cpp-python source
# distribution on PyPI), builds liblutgemm.a, compiles examples/ggml/main.c
# against both and runs it: ggml_mul_mat vs a lutgemm custom op (prepare
# node -> ggml barrier -> compute node) on the same TQ2_0 and Q4_0 blocks,
# at 1 and 2 ggml threads.
#
#   examples/ggml/build.sh            # everything, then the full table
#   examples/ggml/build.sh --quick    # 4096 x 4096 only
#   examples/ggml/build.sh --prio 2   # ggml SCHED_FIFO pool (shared machine)
#
# Environment: LLAMA_CPP_PYTHON_VERSION (0.3.36), GGML_WORK (target/ggml),
# CC, CMAKE (a cmake >= 3.14; else one is pip-installed into $GGML_WORK/venv),
# JOBS (2). Every step is skipped when its output is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
work=${GGML_WORK:-$root/target/ggml}
jobs=${JOBS:-2}
CC=${CC:-cc}
mkdir -p "$work"

# 1. ggml sources: the llama-cpp-python sdist from PyPI (vendor/llama.cpp/ggml).
#    --no-binary for this package only: its build requirements (cmake, ninja,
#    scikit-build-core) come as wheels for pip's metadata step; with
#    --no-binary :all: pip would compile cmake from source just to read it.
sdist=$work/llama_cpp_python-$version.tar.gz
if [ ! -f "$sdist" ]; then
    echo "== pip download llama-cpp-python==$version (sdist)"
    pip download --quiet --no-deps --no-binary llama-cpp-python \
        "llama-cpp-python==$version" -d "$work"
fi
src=$work/llama_cpp_python-$version
ggml=$src/vendor/llama.cpp/ggml
if [ ! -f "$ggml/CMakeLists.txt" ]; then
    echo "== extract $(basename "$sdist")"
    tar -xzf "$sdist" -C "$work"
fi

# 2. cmake (from PyPI when the machine has none).
cmake=${CMAKE:-$(command -v cmake || true)}
if [ -z "$cmake" ]; then
    if [ ! -x "$work/venv/bin/cmake" ]; then
        echo "== pip install cmake into $work/venv"
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install --quiet cmake
    fi
    cmake=$work/venv/bin/cmake
fi

# 3. ggml's CPU backend only, static, -O3 (Release), -march=native
#    (GGML_NATIVE), ggml's own pthread thread pool (no OpenMP), llamafile's
#    sgemm on as in llama.cpp's default build.
#    The sdist leaves out ggml.pc.in, which ggml's CMakeLists wants only
#    when it is the top-level project, so a two-line wrapper project adds it
#    as a subdirectory (as llama.cpp itself does).
build=$work/build
if [ ! -f "$build/ggml/src/libggml-cpu.a" ] || [ ! -f "$build/ggml/src/libggml-base.a" ]; then
    echo "== build ggml (CPU backend) in $build"
    mkdir -p "$work/wrapper"
    printf '%s\n' 'cmake_minimum_required(VERSION 3.14)' 'project(lutgemm_ggml C CXX)' \
        "add_subdirectory(\"$ggml\" ggml)" >"$work/wrapper/CMakeLists.txt"
    "$cmake" -S "$work/wrapper" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=OFF \
        -DGGML_LLAMAFILE=ON -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
        -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF >"$work/cmake.log" 2>&1 ||
        { tail -30 "$work/cmake.log"; exit 1; }
    "$cmake" --build "$build" --target ggml-base ggml-cpu -j "$jobs" >"$work/build.log" 2>&1 ||
        { tail -30 "$work/build.log"; exit 1; }
fi

# 4. liblutgemm.a (and the system libraries it needs).
echo "== cargo build --release --lib"
cargo build --release --lib --quiet
libs=$(cargo rustc --release --lib --crate-type staticlib --quiet -- --print native-static-libs 2>&1 |
    sed -n 's/.*native-static-libs: //p' | tail -1)

# 5. The example. ggml's static libraries are C++ inside: link with c++ runtime.
echo "== compile examples/ggml/main.c"
"$CC" -std=c11 -O2 -Wall -Wextra -Iinclude -I"$ggml/include" \
    -c examples/ggml/main.c -o "$work/main.o"
c++ "$work/main.o" "$build/ggml/src/libggml-cpu.a" "$build/ggml/src/libggml-base.a" \
    target/release/liblutgemm.a $libs -lstdc++ -lpthread -lm -o "$work/lutgemm_ggml"

rev=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
echo "== run (lutgemm at $rev, ggml $(sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' "$ggml/CMakeLists.txt" | paste -sd.) from llama-cpp-python $version)"
"$work/lutgemm_ggml" "$@"
