"""pgolf: the Parameter Golf workbench.

Notebook API::

    import pgolf
    cfg = pgolf.load_config("cpu-demo", num_layers=2)
    model = pgolf.build_model(cfg)
    logits = model.forward_logits(ids)   # float32 (B, T, vocab)
"""

from pgolf.config import Config, load_config
from pgolf.errors import PgolfError

__version__ = "0.1.0"


def build_model(cfg: Config):
    from pgolf.model import build_model as _build

    return _build(cfg)


__all__ = ["Config", "PgolfError", "build_model", "load_config", "__version__"]
