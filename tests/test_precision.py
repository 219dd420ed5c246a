"""Mixed precision and the optimizer options: autocast on forward passes only, fp16 loss
scaling (also inside gradient penalties), foreach/fused kernels, torch.compile."""

from __future__ import annotations

import pytest
import torch

import gancore
from gancore import GancoreError

GRID_GP = {"train.steps": 60, "train.batch_size": 64, "train.log_every": 20, "train.device": "cpu"}


def test_a_gradient_penalty_recipe_trains_under_fp16_as_in_fp32():
    rows = {}
    for amp in ("off", "fp16"):
        rows[amp] = []
        run = gancore.create_run("wgan-gp-grid", overrides=GRID_GP | {"train.amp": amp})
        run.train(report=rows[amp].append)
        assert all(torch.isfinite(p).all() for p in run.scheme.parameters())
    fp32, fp16 = rows["off"], rows["fp16"]
    # The loss scaler skips a few overflowing updates while it finds its scale; none of
    # them reaches the weights, and the run follows the fp32 one closely.
    assert fp16[-1]["skipped_updates"] <= 0.03 * 60 * 6
    # After the first rows (where a skipped update shifts the chaotic early phase) the
    # critic's loss and penalty follow fp32's.
    for a, b in zip(fp32[1:], fp16[1:]):
        assert b["penalty"] == pytest.approx(a["penalty"], rel=0.25)
        assert b["loss_critic"] == pytest.approx(a["loss_critic"], rel=0.15)
        assert all(torch.isfinite(torch.tensor(v)) for k, v in b.items() if k.startswith(("loss", "penalty", "grad")))
    assert fp32[-1]["penalty"] > 1.0 and fp32[-1]["loss_critic"] < -10  # the critic learns, the penalty acts


def test_autocast_covers_forward_passes_only(tiny_ring):
    run = gancore.create_run(tiny_ring, overrides={"train.amp": "bf16", "train.steps": 2})
    seen = []
    update = run.engine.update

    def spy(group, loss, **kw):
        seen.append((torch.is_autocast_enabled("cpu"), loss.dtype))
        update(group, loss, **kw)

    run.engine.update = spy
    original = torch.Tensor.backward

    def backward(self, *a, **kw):
        seen.append(("backward", torch.is_autocast_enabled("cpu")))
        return original(self, *a, **kw)

    torch.Tensor.backward = backward
    try:
        run.train()
    finally:
        torch.Tensor.backward = original
    assert any(entry[0] is True for entry in seen)  # the step's forward passes run under autocast
    assert ("backward", False) in seen and ("backward", True) not in seen
    assert all(p.dtype == torch.float32 for p in run.scheme.parameters())


def test_a_precision_the_device_lacks_is_one_clear_error(tiny_ring, monkeypatch):
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: False)
    with pytest.raises(GancoreError, match="train.amp = 'fp16': autocast is not available on cpu"):
        gancore.create_run(tiny_ring, overrides={"train.amp": "fp16"})
    with pytest.raises(GancoreError, match="train.amp"):
        gancore.create_run(tiny_ring, overrides={"train.amp": "fp8"})


@pytest.mark.parametrize("implementation", ["for-loop", "foreach", "fused"])
def test_optimizer_implementations_give_the_same_training(tiny_ring, implementation):
    ref = gancore.create_run(tiny_ring, overrides={"train.steps": 10}).train()
    run = gancore.create_run(tiny_ring, overrides={"train.steps": 10, "optim.implementation": implementation}).train()
    adam = run.optimizers["critic"]
    assert adam.defaults["fused" if implementation == "fused" else "foreach"] is (implementation != "for-loop")
    for a, b in zip(ref.scheme.parameters(), run.scheme.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_an_implementation_the_optimizer_lacks_is_refused_before_building(tiny_ring):
    with pytest.raises(GancoreError, match=r"optim.critic.implementation: implementation 'fused' is not available for rmsprop"):
        gancore.create_run(tiny_ring, overrides={"optim.critic": {"name": "rmsprop", "implementation": "fused"}})
    with pytest.raises(GancoreError, match="optim.clip_norm"):
        gancore.create_run(tiny_ring, overrides={"optim.clip_norm": 0})


def test_compile_trains_with_a_gradient_penalty_like_eager(tiny_ring):
    pytest.importorskip("torch._inductor")
    over = {"train.steps": 3, "regularizers": [{"name": "gradient-penalty", "weight": 1.0}]}
    eager = gancore.create_run(tiny_ring, overrides=over).train()
    compiled = gancore.create_run(tiny_ring, overrides=over | {"train.compile": True}).train()
    for a, b in zip(eager.scheme.state_dict().values(), compiled.scheme.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4)
    assert list(eager.scheme.state_dict()) == list(compiled.scheme.state_dict())  # checkpoints unchanged
