"""Which CPU and instruction-set path a figure was measured on: int8 kernels, and so answers and timings,
differ between x86 AVX2, AVX-512 VNNI and ARM NEON with or without dot product.

The path comes from NumPy's own run-time CPU detection (CPUID on x86, HWCAP on ARM), which an emulator such as
qemu answers for the CPU it emulates, so `qemu-x86_64 -cpu Haswell` reports avx2 on any host.
"""

from __future__ import annotations

import platform
from pathlib import Path

# (path name, features that must all be present), best first; names as onnxruntime's and XNNPACK's kernels split.
X86_PATHS = (
    ("avx512-vnni", ("AVX512F", "AVX512BW", "AVX512VNNI")),
    ("avx512", ("AVX512F", "AVX512BW")),
    ("avx2", ("AVX2", "FMA3")),
    ("avx", ("AVX",)),
    ("sse4", ("SSE41",)),
)
ARM_PATHS = (
    ("neon-dotprod", ("ASIMDDP",)),
    ("neon", ("ASIMD",)),
)


def cpu_features() -> set[str]:
    """The CPU features NumPy detected at run time (empty when this NumPy does not expose them)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # NumPy 2
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features  # NumPy 1.26
        except ImportError:
            return set()
    return {name for name, present in features.items() if present}


def instruction_path(features: set[str] | None = None) -> str:
    """The widest kernel family this CPU runs, e.g. 'avx2', 'avx512-vnni', 'neon-dotprod' ('unknown' otherwise)."""
    features = cpu_features() if features is None else features
    machine = platform.machine().lower()
    paths = ARM_PATHS if machine in ("aarch64", "arm64") or machine.startswith("arm") else X86_PATHS
    for name, needed in paths:
        if all(feature in features for feature in needed):
            return name
    return "sse2" if machine in ("x86_64", "amd64") else "unknown"


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it (under user-mode emulation: the host's)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def measured_on() -> dict[str, str]:
    """What a measurement names: the machine architecture, the CPU model and the instruction-set path."""
    return {"machine": platform.machine(), "cpu": cpu_model(), "path": instruction_path()}


def describe_machine(machine: dict[str, str] | None = None) -> str:
    """One phrase for a report's header, e.g. 'x86_64, AMD EPYC, avx512-vnni path' (this machine by default)."""
    machine = measured_on() if machine is None else machine
    return f"{machine['machine']}, {machine['cpu']}, {machine['path']} path"
