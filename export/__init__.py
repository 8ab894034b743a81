"""Export package: trained generators → ONNX (fp32/fp16) and TensorRT engines, with parity reports."""
