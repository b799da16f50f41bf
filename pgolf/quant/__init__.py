"""Quantization: turn float weights into few-bit symbols plus scales, and back."""
