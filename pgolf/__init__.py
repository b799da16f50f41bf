"""pgolf: the Parameter Golf workbench.

Notebook API::

    import pgolf
    cfg = pgolf.load_config("cpu-demo", num_layers=2)
    model = pgolf.build_model(cfg)
    logits = model.forward_logits(ids)   # float32 (B, T, vocab)

    cfg = pgolf.config_from_log("records/.../train_seed42.log")   # a record's config
    pgolf.load_reference_weights(model, torch.load("final_model.pt"))   # and its weights
"""

from pgolf.config import Config, load_config
from pgolf.errors import PgolfError

__version__ = "0.1.0"


def build_model(cfg: Config, device=None):
    from pgolf.model import build_model as _build

    return _build(cfg, device)


def load_reference_weights(model, state_dict) -> None:
    from pgolf.model.reference import load_reference_weights as _load

    _load(model, state_dict)


def config_from_log(path, strict: bool = True) -> Config:
    from pgolf.config_log import config_from_log as _from_log

    return _from_log(path, strict)


__all__ = ["Config", "PgolfError", "build_model", "config_from_log", "load_config", "load_reference_weights",
           "__version__"]
