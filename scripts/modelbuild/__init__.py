"""Helpers of scripts/build_test_model.py: build the project's test ONNX model without torch."""
