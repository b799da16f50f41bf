"""The feed-forward block: up-projection, squared activation, zero-initialised down-projection.

``relu2`` is the baseline's relu(x)^2; ``leaky_relu2`` is the record's leaky_relu(x, slope)^2,
which keeps a (squared, small) signal for negative inputs. With ``adapters`` (test-time
training), ``adapters("mlp", slot, x)`` is added to the block's output: a parallel adapter on x.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Module):
    def __init__(self, dim: int, mult: float, act: str = "relu2", slope: float = 0.5):
        super().__init__()
        hidden = int(mult * dim)
        self.fc = nn.Linear(dim, hidden, bias=False)
        self.proj = nn.Linear(hidden, dim, bias=False)
        self.act, self.slope = act, slope

    def forward(self, x: torch.Tensor, adapters=None, slot: int = 0) -> torch.Tensor:
        h = self.fc(x)
        h = torch.relu(h) if self.act == "relu2" else F.leaky_relu(h, self.slope)
        out = self.proj(h.square())
        return out if adapters is None else out + adapters("mlp", slot, x)
