"""Training: the trainer and its clock, distributed helpers, run folders and logs."""
