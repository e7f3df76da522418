"""Runtime tier: read digits in images with numpy, OpenCV, onnxruntime and LiteRT; never TensorFlow.

Everything a Raspberry Pi or a laptop needs to run the shipped models: image loading (imageio),
page and polarity (canvas), ink and rule finding (segment, rules, split), MNIST-style crops
(normalize), the exported model behind one interface (classifier, manifest), the reader that ties
them together (reader), and what the camera demo draws and smooths (draw, smoothing).
Nothing here imports edge_digits.build, edge_digits.measure or edge_digits.apps.
"""
