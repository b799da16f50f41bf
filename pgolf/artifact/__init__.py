"""The artifact: one model file holding everything evaluation needs besides the code."""
