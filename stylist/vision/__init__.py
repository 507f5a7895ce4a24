"""Seeing garments: backbone registry, torch->ONNX export, ONNX Runtime extraction, features.

Nothing heavy is imported here: onnxruntime, onnx and torch are imported inside the functions
that use them, so importing ``stylist.vision`` is cheap.
"""
