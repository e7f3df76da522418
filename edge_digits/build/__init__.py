"""Build tier: MNIST, models, training, evaluation, conversion, quantization, export and parity.

Imports TensorFlow, Keras, tf2onnx and onnx (lazily, where they are needed) and may use the
runtime tier, never the other way round. Installed with the `train` extra.
"""
