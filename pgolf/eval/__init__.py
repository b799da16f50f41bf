"""Evaluation: score the validation stream and report val_loss and val_bpb."""
