"""Helpers for the optimizer tests against the 1.0611 record: its logged hyperparameters, an ``h``
for its classes, and the closures of its ``train_model`` compiled from its own source."""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from pathlib import Path

from tests.reference import RECORD_1_0611


def log_hyperparameters(reference_root: Path, seed: int = 42) -> dict:
    """The ``Hyperparameters:`` dump at the top of the record's train log, values parsed."""
    lines = (reference_root / RECORD_1_0611 / f"train_seed{seed}.log").read_text().splitlines()
    start = lines.index("Hyperparameters:") + 1
    out = {}
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        key, _, raw = line.strip().partition(": ")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def record_h(script, **values) -> types.SimpleNamespace:
    """The script's Hyperparameters defaults, overridden by ``values``."""
    h = {k: v for k, v in vars(script.Hyperparameters).items() if not k.startswith("_")}
    h.update(values)
    return types.SimpleNamespace(**h)


def _nodes(tree: ast.AST, test) -> list[ast.AST]:
    return [n for n in ast.walk(tree) if test(n)]


class TrainModelCode:
    """Pieces of the record's ``train_model``, compiled from its source with a given ``h``:
    the clock's budget, ``training_frac``, ``lr_mul``, the momentum warm-up block of
    ``step_fn``, the loop switch's condition and the EMA update."""

    def __init__(self, script, h):
        self.h = h
        tree = ast.parse(textwrap.dedent(inspect.getsource(script.train_model)))
        body = tree.body[0].body
        self.ns = {"h": h, "log": lambda *a, **k: None, "torch": script.torch}
        budget = [n for n in body if isinstance(n, (ast.Assign, ast.If)) and "max_wallclock_ms" in ast.unparse(n)]
        funcs = [n for n in body if isinstance(n, ast.FunctionDef) and n.name in ("training_frac", "lr_mul")]
        exec(compile(ast.Module(budget + funcs, []), "<record train_model>", "exec"), self.ns)
        (self._momentum,) = _nodes(tree, lambda n: isinstance(n, ast.If)
                                   and ast.unparse(n.test) == "step <= h.muon_momentum_warmup_steps")
        (loop_if,) = _nodes(tree, lambda n: isinstance(n, ast.If) and "enable_looping_at" in ast.unparse(n.test))
        self._loop_test = compile(ast.Expression(loop_if.test), "<record loop switch>", "eval")
        (ema_for,) = _nodes(tree, lambda n: isinstance(n, ast.For) and "_ema_pairs" in ast.unparse(n.iter))
        self._ema = compile(ast.Module([ema_for], []), "<record ema>", "exec")
        self._momentum_code = compile(ast.Module([self._momentum], []), "<record momentum>", "exec")

    @property
    def max_wallclock_ms(self):
        return self.ns["max_wallclock_ms"]

    def training_frac(self, step: int, elapsed_ms: float) -> float:
        return self.ns["training_frac"](step, elapsed_ms)

    def lr_mul(self, frac: float) -> float:
        return self.ns["lr_mul"](frac)

    def momentum_run(self, steps: int) -> list[float]:
        """Muon's momentum at each step 0..steps-1, as step_fn sets it (it starts at h.muon_momentum)."""
        group = {"momentum": self.h.muon_momentum}
        opts = types.SimpleNamespace(optimizer_muon=types.SimpleNamespace(param_groups=[group]))
        out = []
        for step in range(steps):
            exec(self._momentum_code, dict(self.ns, step=step, optimizers=opts))
            out.append(group["momentum"])
        return out

    def loop_switches_on(self, frac: float, looping_active: bool = False) -> bool:
        model = types.SimpleNamespace(looping_active=looping_active)
        return bool(eval(self._loop_test, dict(self.ns, frac=frac, base_model=model)))

    def ema_update(self, pairs, decay: float) -> None:
        """The record's in-place EMA update of (ema tensor, live tensor) pairs."""
        exec(self._ema, dict(self.ns, _ema_pairs=pairs, ema_decay=decay))
