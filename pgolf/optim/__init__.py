"""Optimizers and schedules: Muon for matrices, Adam for embeddings and scalars."""
