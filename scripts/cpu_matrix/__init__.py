"""scripts/cpu-matrix: the runtime tier on every CPU path it claims, against one native oracle.

steps.py runs commands and reports failures; debian.py assembles what the emulated targets need (qemu from
the host's own Debian mirror, arm64 roots, aarch64 wheels); probe.py is what runs on each target; compare.py
holds a target's answers against the native ones and prints the table; exports.py re-exports the shipped sets
on the x86 paths (--exports); main.py ties them together.
"""
