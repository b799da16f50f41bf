"""The model: `build_model(config)` returns the GPT the config describes."""

from pgolf.model.gpt import GPT


def build_model(cfg) -> GPT:
    return GPT(cfg)


__all__ = ["GPT", "build_model"]
