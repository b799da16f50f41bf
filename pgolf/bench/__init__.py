"""Benchmarks: step time and MFU (step.py), equal-time recipe ranking (proxy.py), the 8×H100
projection (project.py), and the result files kept in the repo (results.py)."""
