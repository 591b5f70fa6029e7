"""What the machine can do fast: CPU features, the training precision they make fastest, and the
peak FLOP/s that MFU is measured against.

CPUs differ between machines of one fleet. An Intel Xeon with AMX-bf16 or an AMD EPYC with
AVX-512-bf16 multiplies bf16 matrices natively (oneDNN), up to several times its float32 rate; a
CPU with AVX2 only has no bf16 arithmetic, and bf16 linear layers there run ~7x *slower* than
float32 (2 vs 15 GFLOP/s on a 2-core AMD EPYC; a cpu-2m training step 3-8x slower, measured with
benchmarks/train.py). So ``--precision auto`` trains in bf16 only where the hardware has it.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

import torch

# Dense bf16 peak of common GPUs (vendor datasheets), for MFU.
GPU_PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12}
PRECISIONS = ("auto", "bf16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def _proc_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


@lru_cache(maxsize=1)
def cpu_features() -> dict[str, Any]:
    """The CPU's name, PyTorch's kernel level (``DEFAULT``/``AVX2``/``AVX512``) and the
    instruction sets that decide the bf16 speed. From ``torch.cpu.get_capabilities`` (cpuinfo),
    falling back to Linux's /proc/cpuinfo flags."""
    caps: dict[str, Any] = {}
    getter = getattr(torch.cpu, "get_capabilities", None)
    if getter is not None:
        try:
            caps = dict(getter())
        except (RuntimeError, AttributeError):
            caps = {}
    flags = _proc_flags()

    def has(cap: str, flag: str) -> bool:
        return bool(caps.get(cap, flag in flags))

    features = {
        "name": caps.get("cpu_name", ""),
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "cores": caps.get("num_physical_cores", torch.get_num_threads()),
        "avx2": has("avx2", "avx2"),
        "avx512": has("avx512_f", "avx512f"),
        "avx512_bf16": has("avx512_bf16", "avx512_bf16"),
        "amx_bf16": has("amx_bf16", "amx_bf16"),
    }
    features["bf16_matmul"] = "amx" if features["amx_bf16"] else "avx512_bf16" if features["avx512_bf16"] else "none"
    return features


def resolve_precision(precision: str, device: torch.device) -> str:
    """``bf16`` or ``fp32`` for ``--precision`` (``auto``: bf16 on CUDA devices that support it
    and on CPUs with native bf16 matmuls, float32 elsewhere)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_features()["bf16_matmul"] != "none" else "fp32"


def compute_dtype(precision: str) -> torch.dtype:
    return _DTYPES[precision]


def measure_matmul_peak(dtype: torch.dtype, sizes: tuple[int, ...] = (512, 1024), repeats: int = 4) -> float:
    """The best FLOP/s of square matmuls in ``dtype`` on this CPU's threads (CPUs have no agreed
    peak; a large GEMM is the most a training step could reach)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        a @ b  # first call: allocation and oneDNN primitive creation
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def peak_flops(device: torch.device, dtype: torch.dtype, override_tflops: float | None) -> tuple[float | None, str]:
    """The FLOP/s that MFU is measured against, and where the number comes from."""
    if override_tflops:
        return override_tflops * 1e12, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value, f"datasheet bf16 dense ({name})"
        return None, f"unknown GPU {name}"
    name = {torch.bfloat16: "bf16", torch.float32: "fp32"}.get(dtype, str(dtype))
    return measure_matmul_peak(dtype), f"measured {name} matmul (best of 512², 1024²) on {torch.get_num_threads()} threads"
