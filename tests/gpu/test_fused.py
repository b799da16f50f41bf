"""Fused and compiled pieces on CUDA equal the plain ones: torch's fused Adam/AdamW, the package's
optimizer step (fused Adam, bf16 Muon buffers on CUDA) against the same step on the CPU, and the
compiled model's loss and gradients against eager cross-entropy of its logits (in fp32; the record
model's compiled bf16 loss is checked against eager in test_record_compile.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pgolf
from pgolf.config import load_config
from tests.gpu.kit import GPU, doc_batch, jitter, rel_err

pytestmark = GPU

SMALL = dict(num_layers=2, model_dim=128, num_heads=4, num_kv_heads=2, train_seq_len=256)


@pytest.mark.parametrize("cls, kw", [(torch.optim.Adam, {}), (torch.optim.AdamW, dict(weight_decay=0.1))],
                         ids=["adam", "adamw"])
def test_torch_fused_adam_equals_plain(cls, kw):
    g = torch.Generator().manual_seed(0)
    shapes = [(1024, 512), (512,), (8192, 128), (7,)]
    init = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(5)]
    runs = []
    for fused in (True, False):
        ps = [torch.nn.Parameter(t.clone().cuda()) for t in init]
        opt = cls(ps, lr=0.01, betas=(0.9, 0.95), eps=1e-8, fused=fused, foreach=None if fused else False, **kw)
        for step in grads:
            for p, gr in zip(ps, step):
                p.grad = gr.cuda()
            opt.step()
        runs.append([p.detach().cpu() for p in ps])
    for a, b in zip(*runs):
        assert rel_err(a, b) < 1e-6


def test_package_optimizer_step_on_cuda_equals_cpu(record_property):
    build = pytest.importorskip("pgolf.optim.build").build_optimizers
    cfg = load_config("baseline", **SMALL)
    torch.manual_seed(0)
    cpu_model = jitter(pgolf.build_model(cfg))
    gpu_model = pgolf.build_model(cfg)
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.cuda()
    before = {n: p.detach().clone() for n, p in cpu_model.named_parameters()}
    opts = {"cpu": build(cpu_model, cfg), "cuda": build(gpu_model, cfg)}
    record_property("cuda_adam_fused", [bool(o.defaults.get("fused")) for o in opts["cuda"] if "fused" in o.defaults])
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        grads = {n: torch.randn(p.shape, generator=g) * 0.01 for n, p in cpu_model.named_parameters()}
        for model, where in ((cpu_model, "cpu"), (gpu_model, "cuda")):
            for n, p in model.named_parameters():
                p.grad = grads[n].to(p.device)
            for o in opts[where]:
                o.step()
    gpu_params = dict(gpu_model.named_parameters())
    adam_params = {id(p) for o in opts["cpu"] if isinstance(o, (torch.optim.Adam, torch.optim.AdamW))
                   for grp in o.param_groups for p in grp["params"]}
    worst = 1.0
    for n, p in cpu_model.named_parameters():
        a, b = (gpu_params[n].detach().cpu() - before[n]).flatten(), (p.detach() - before[n]).flatten()
        if id(p) in adam_params:
            assert rel_err(a, b) < 1e-4, f"{n}: the Adam update differs on CUDA"
        cos = float(F.cosine_similarity(a.double(), b.double(), dim=0))
        worst = min(worst, cos)
        assert cos > 0.99, f"{n}: update cosine {cos:.4f} between CUDA and CPU"
    record_property("worst_update_cosine", worst)


def test_compiled_loss_and_grads_equal_eager_cross_entropy(record_property):
    cfg = load_config("baseline", **SMALL)
    torch.manual_seed(0)
    model = jitter(pgolf.build_model(cfg)).cuda().train()
    compiled = torch.compile(model, dynamic=False)
    ids = doc_batch(8, cfg.train_seq_len + 1, cfg.vocab_size, cfg.bos_id, seed=3).cuda()
    x, y = ids[:, :-1], ids[:, 1:]
    loss = compiled(x, y)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    logits = model.forward_logits(x)
    plain = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
    plain.backward()
    record_property("loss_abs_diff", abs(loss.item() - plain.item()))
    assert abs(loss.item() - plain.item()) < 1e-4 * plain.item()
    for n, p in model.named_parameters():
        assert rel_err(grads[n], p.grad) < 1e-3, f"{n}: compiled gradient differs"
