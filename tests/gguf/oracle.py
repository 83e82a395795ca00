#!/usr/bin/env python3
"""External oracle for lutgemm's GGUF import/export (tests/gguf_oracle.rs).

Usage: oracle.py OUTDIR

Uses the PyPI `gguf` package (llama.cpp's gguf-py, whose gguf.quants
reproduces ggml's block formats byte for byte) and numpy. For each case it
writes, in OUTDIR:

  NAME.bytes  the GGUF blocks, m rows of k / block_len blocks
  NAME.deq    gguf.quants.dequantize(bytes) as float32, m x k, little endian
  NAME.x      activations, float32, n x k
  NAME.y      numpy's x @ W.T in float64 (W = NAME.deq), n x m
  NAME.w      the float32 input to gguf.quants.quantize (Q4_0, TQ1_0, TQ2_0)

and one line per case in OUTDIR/manifest.txt:

  NAME TYPE M K N SOURCE        (SOURCE: quantize | random)

Q4_0, TQ1_0 and TQ2_0 blocks come from gguf.quants.quantize of random
matrices; Q4_K and Q2_K (which gguf.quants only dequantizes) are random
bytes with finite random f16 d and dmin. Seeds are fixed.
"""

import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

try:
    from importlib.metadata import version as _version

    GGUF_VERSION = _version("gguf")
except Exception:  # pragma: no cover
    GGUF_VERSION = getattr(gguf, "__version__", "unknown")

N_TOKENS = 3


def f16_values(rng, count):
    """Finite f16 values: mostly positive, typical magnitudes, with some
    negative ones, zeros of both signs, subnormals and the extremes."""
    mag = np.abs(rng.standard_normal(count)) * 10.0 ** rng.uniform(-4, 0, count)
    v = mag.astype(np.float16)
    sign = rng.random(count) < 0.15
    v[sign] = -v[sign]
    special = np.array(
        [0.0, -0.0, 6e-8, -6e-8, 3e-6, 6.1e-5, 1.0, -1.0, 65504.0, -65504.0, 0.5],
        dtype=np.float16,
    )
    pick = rng.random(count) < 0.2
    v[pick] = rng.choice(special, int(pick.sum()))
    assert np.all(np.isfinite(v))
    return v


def random_kquant(rng, qtype, m, k):
    """Random well-formed Q4_K / Q2_K blocks: random bytes, finite d, dmin."""
    block_len, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    nb = m * (k // block_len)
    b = rng.integers(0, 256, size=(nb, block_bytes), dtype=np.uint8)
    # byte offsets of d and dmin in the block (ggml-common.h)
    at = {T.Q4_K: (0, 2), T.Q2_K: (80, 82)}[qtype]
    for off in at:
        b[:, off : off + 2] = f16_values(rng, nb).view(np.uint8).reshape(nb, 2)
    return b.reshape(m, -1)


def weights(rng, kind, m, k, block):
    """Float weights for the quantizers."""
    if kind == "gauss":
        w = rng.standard_normal((m, k)) * rng.uniform(0.01, 2.0, (m, 1))
    elif kind == "tiny":
        # f16 subnormal block scales
        w = rng.standard_normal((m, k)) * 1e-6
    elif kind == "ternary":
        # ternary-looking weights (all three codes well populated) with noise
        t = rng.integers(-1, 2, (m, k)).astype(np.float64)
        amp = rng.uniform(0.05, 3.0, (m, k // block)).repeat(block, axis=1)
        w = (t + 0.2 * rng.standard_normal((m, k))) * amp
    else:
        raise ValueError(kind)
    w = w.astype(np.float32)
    # a few all-zero blocks (d = 0)
    w[0, :block] = 0.0
    if m > 2:
        w[2, k - block :] = 0.0
    return w


CASES = [
    # name, type, m, k, source kind
    ("q4_0_gauss_8x256", T.Q4_0, 8, 256, "gauss"),
    ("q4_0_gauss_3x512", T.Q4_0, 3, 512, "gauss"),
    ("q4_0_gauss_7x96", T.Q4_0, 7, 96, "gauss"),
    ("q4_0_tiny_4x1024", T.Q4_0, 4, 1024, "tiny"),
    ("tq1_0_ternary_8x256", T.TQ1_0, 8, 256, "ternary"),
    ("tq1_0_ternary_3x512", T.TQ1_0, 3, 512, "ternary"),
    ("tq1_0_gauss_5x1024", T.TQ1_0, 5, 1024, "gauss"),
    ("tq2_0_ternary_8x256", T.TQ2_0, 8, 256, "ternary"),
    ("tq2_0_ternary_3x512", T.TQ2_0, 3, 512, "ternary"),
    ("tq2_0_gauss_5x1024", T.TQ2_0, 5, 1024, "gauss"),
    ("q4_k_random_8x256", T.Q4_K, 8, 256, "random"),
    ("q4_k_random_3x512", T.Q4_K, 3, 512, "random"),
    ("q4_k_random_5x1024", T.Q4_K, 5, 1024, "random"),
    ("q2_k_random_8x256", T.Q2_K, 8, 256, "random"),
    ("q2_k_random_3x512", T.Q2_K, 3, 512, "random"),
    ("q2_k_random_5x1024", T.Q2_K, 5, 1024, "random"),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    lines = [f"# gguf {GGUF_VERSION} numpy {np.__version__}"]
    for seed, (name, qtype, m, k, kind) in enumerate(CASES):
        rng = np.random.default_rng(1000 + seed)
        block_len, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        if kind == "random":
            b = random_kquant(rng, qtype, m, k)
            source = "random"
        else:
            w = weights(rng, kind, m, k, block_len)
            b = quantize(w, qtype)
            w.astype("<f4").tofile(os.path.join(out, name + ".w"))
            source = "quantize"
        b = np.ascontiguousarray(b, dtype=np.uint8)
        assert b.shape == (m, k // block_len * block_bytes), (name, b.shape)
        deq = dequantize(b, qtype)
        assert deq.dtype == np.float32 and deq.shape == (m, k), (name, deq.shape)
        x = rng.standard_normal((N_TOKENS, k)).astype(np.float32)
        y = x.astype(np.float64) @ deq.astype(np.float64).T
        b.tofile(os.path.join(out, name + ".bytes"))
        deq.astype("<f4").tofile(os.path.join(out, name + ".deq"))
        x.astype("<f4").tofile(os.path.join(out, name + ".x"))
        y.astype("<f8").tofile(os.path.join(out, name + ".y"))
        lines.append(f"{name} {qtype.name} {m} {k} {N_TOKENS} {source}")
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"gguf {GGUF_VERSION}, numpy {np.__version__}: {len(CASES)} cases in {out}")


if __name__ == "__main__":
    main()
