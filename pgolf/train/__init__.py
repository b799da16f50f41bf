"""Training: the loop and clock, distributed helpers, run folders and logs."""
