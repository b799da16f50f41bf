"""An exponential moving average of the weights: updated after every step, used for export.

After every optimizer step, ``ema = decay * ema + (1 - decay) * w`` for every floating-point
tensor of the state dict, starting from the weights training starts from. The shadow is float32
whatever the model's dtype; ``copy_to`` loads it into the model (the record evaluates and
exports the averaged weights, not the last step's).
"""

from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        state = model.state_dict()
        self.shadow = {k: v.detach().float().clone() for k, v in state.items() if v.is_floating_point()}
        # the model's tensors keep their identity (loads and copy_to write in place): list them once
        self._dst = list(self.shadow.values())
        self._src = [state[k] for k in self.shadow]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        torch._foreach_mul_(self._dst, self.decay)
        torch._foreach_add_(self._dst, [s.float() for s in self._src], alpha=1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        state = model.state_dict()
        for k, v in self.shadow.items():
            state[k].copy_(v.to(state[k].dtype))
