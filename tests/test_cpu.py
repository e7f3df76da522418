"""The instruction-set path a figure names: from the features the CPU reports, widest kernel family first."""

from __future__ import annotations

import platform

import pytest

from edge_digits.runtime import cpu


@pytest.mark.parametrize("machine, features, path", [
    ("x86_64", {"SSE41", "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VNNI"}, "avx512-vnni"),  # Zen 4
    ("x86_64", {"SSE41", "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW"}, "avx512"),  # Skylake-X
    ("x86_64", {"SSE41", "AVX", "AVX2", "FMA3"}, "avx2"),  # Zen 3, Haswell
    ("x86_64", {"SSE41", "AVX"}, "avx"),  # Sandy Bridge
    ("x86_64", {"SSE2", "SSE41"}, "sse4"),  # Nehalem
    ("x86_64", {"SSE2"}, "sse2"),
    ("aarch64", {"ASIMD", "ASIMDDP"}, "neon-dotprod"),  # Cortex-A76, Pi 5
    ("aarch64", {"ASIMD"}, "neon"),  # Cortex-A72, Pi 4
    ("riscv64", set(), "unknown"),
])
def test_the_path_is_the_widest_family_the_features_allow(monkeypatch, machine, features, path):
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert cpu.instruction_path(features) == path


def test_this_machine_names_a_known_path():
    assert cpu.cpu_features(), "NumPy's run-time CPU detection is gone: instruction_path would say 'unknown'"
    described = cpu.measured_on()
    assert described["path"] != "unknown" and described["machine"] == platform.machine() and described["cpu"]
    assert cpu.describe_machine(described) == f"{described['machine']}, {described['cpu']}, {described['path']} path"
