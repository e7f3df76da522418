"""Measurement: synthetic scenes and crops, photo scoring, benchmarks, reading speed and soak.

Draws on MNIST (edge_digits.build.mnist) and the runtime tier; only the benchmark's Keras rows
and plots need the build tier's heavy dependencies.
"""
