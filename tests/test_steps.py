"""The update handle and the shared step pieces: Updates.step, critic_update,
generator_loss, critic_rounds, input_gradients, frozen."""

import pytest
import torch
from torch import nn

import gancore
from gancore._guard import NonfiniteGuard
from gancore._optim import OptimSettings
from gancore._updates import Updates

CPU = torch.device("cpu")


class Score(nn.Linear):
    """A linear critic: one score per sample, (N,)."""

    def __init__(self, features: int) -> None:
        super().__init__(features, 1)

    def forward(self, x):
        return super().forward(x).squeeze(1)


def handle(networks: dict[str, nn.Module], *, lr=0.1, mode="stop", amp="off", deferred=False, **settings) -> Updates:
    params = {g: list(m.parameters()) for g, m in networks.items()}
    optimizers = {g: torch.optim.SGD(p, lr=lr) for g, p in params.items()}
    options = {g: OptimSettings(**settings) for g in networks}
    guard = NonfiniteGuard(mode, 3, deferred=deferred)
    return Updates(optimizers, params, options, device=CPU, amp=amp, guard=guard, total_steps=10)


def test_frozen_critic_passes_input_gradients_only():
    critic, x = nn.Linear(3, 1), torch.randn(4, 3, requires_grad=True)
    with gancore.frozen(critic):
        critic(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert critic.weight.grad is None
    assert all(p.requires_grad for p in critic.parameters())  # restored afterwards


def test_frozen_restores_after_an_error_and_keeps_frozen_params_frozen():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    net[0].weight.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with gancore.frozen(net):
            raise RuntimeError
    assert not net[0].weight.requires_grad and net[1].weight.requires_grad


def test_step_clears_stale_gradients_and_touches_only_its_group():
    gen, critic = nn.Linear(2, 2), nn.Linear(2, 1)
    updates = handle({"generator": gen, "critic": critic}, mode="skip")  # "skip" measures the norm
    before, critic_before = gen.weight.detach().clone(), critic.weight.detach().clone()
    gen.weight.grad = torch.full_like(gen.weight, 100.0)  # a stale gradient must not leak in
    loss = critic(gen(torch.ones(1, 2))).sum()
    updates.step("generator", loss)
    expected_grad = critic.weight.detach().t() @ torch.ones(1, 2)  # d loss / d W_gen
    assert torch.allclose(gen.weight.detach(), before - 0.1 * expected_grad)
    assert critic.weight.grad is not None and torch.equal(critic.weight.detach(), critic_before)  # judged, not trained
    with gancore.frozen(critic):  # what generator_loss does: no critic gradients at all
        updates.step("generator", critic(gen(torch.ones(1, 2))).sum())
    updates.step("critic", critic(torch.ones(1, 2)).sum())
    assert torch.allclose(critic.weight.grad, torch.ones(1, 2))  # what was left before was cleared
    assert updates.logs["grad_norm_generator"] > 0


def test_step_of_two_groups_backpropagates_once_into_both():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    updates = handle({"generator": a, "predictor": b})
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    updates.step(("generator", "predictor"), (a(torch.ones(1, 2)) + b(torch.ones(1, 2))).sum())
    assert torch.allclose(a.weight, wa - 0.1) and torch.allclose(b.weight, wb - 0.1)
    with pytest.raises(ValueError, match="no optimizer group 'critic'"):
        updates.step("critic", a(torch.ones(1, 2)).sum())


def test_clip_norm_bounds_the_step_and_after_step_runs_after_it():
    net = nn.Linear(4, 1, bias=False)
    updates = handle({"critic": net}, lr=1.0, clip_norm=0.5)
    before = net.weight.detach().clone()
    seen = []
    updates.step("critic", 1000 * net(torch.ones(1, 4)).sum(), after_step=lambda: seen.append(net.weight.detach().clone()))
    moved = torch.linalg.vector_norm(net.weight.detach() - before)
    assert moved == pytest.approx(0.5, rel=1e-4)  # lr 1 times a gradient clipped to norm 0.5
    assert updates.logs["grad_norm_critic"] == pytest.approx(2000.0)  # the norm before clipping
    assert len(seen) == 1 and torch.equal(seen[0], net.weight.detach())


@pytest.mark.parametrize("deferred", [False, True])
def test_stop_names_the_step_group_and_value(deferred):
    net = nn.Linear(2, 1)
    updates = handle({"critic": net}, deferred=deferred)
    updates.begin(6)
    loss = net(torch.ones(1, 2)).sum() * float("nan")
    if deferred:  # applied now, reported at the engine's next check
        updates.step("critic", loss)
        with pytest.raises(gancore.DivergenceError, match=r"step 7: the critic loss is nan"):
            updates.guard.check()
    else:  # reported before the optimizer steps: the weights stay finite
        before = net.weight.detach().clone()
        with pytest.raises(gancore.DivergenceError, match=r"step 7: the critic loss is nan"):
            updates.step("critic", loss)
        assert torch.equal(net.weight.detach(), before)


def test_skip_leaves_weights_alone_counts_and_stops_after_the_limit():
    net = nn.Linear(2, 1)
    updates = handle({"critic": net}, mode="skip")
    before = net.weight.detach().clone()
    for step in range(2):
        updates.begin(step)
        updates.step("critic", net(torch.full((1, 2), float("inf"))).sum())
    assert torch.equal(net.weight.detach(), before) and updates.guard.skipped == 2
    updates.step("critic", net(torch.ones(1, 2)).sum())  # a good update resets the run of skips
    assert updates.guard.in_a_row == 0 and not torch.equal(net.weight.detach(), before)
    with pytest.raises(gancore.DivergenceError, match="3 updates in a row"):
        for _ in range(3):
            updates.step("critic", net(torch.full((1, 2), float("nan"))).sum())
    assert updates.guard.skipped == 5


def test_fp16_overflow_is_skipped_by_the_scaler_not_called_divergence():
    net = nn.Linear(2, 1)
    updates = handle({"critic": net}, amp="fp16")
    scale = updates.scalers["critic"].get_scale()
    before = net.weight.detach().clone()
    # A gradient of 1e5 times the scale overflows in the scaled backward.
    updates.step("critic", net(torch.ones(1, 2)).sum() * 1e38)
    assert torch.equal(net.weight.detach(), before) and updates.guard.skipped == 1
    assert updates.scalers["critic"].get_scale() == scale / 2
    updates.step("critic", net(torch.ones(1, 2)).sum())
    assert torch.allclose(net.weight.detach(), before - 0.1)  # unscaled before the step


def test_critic_update_sums_the_critics_losses_and_leaves_generators_alone():
    loss = gancore.build("loss", "hinge")
    torch.manual_seed(0)
    critics, generator = [Score(3), Score(3)], nn.Linear(3, 3)
    reals = [torch.randn(8, 3), torch.randn(8, 3)]
    fakes = [generator(torch.randn(8, 3)) for _ in critics]
    with torch.no_grad():
        expected_loss = sum(loss.critic(c(r), c(f)) for c, r, f in zip(critics, reals, fakes))
        expected_real = sum(c(r).mean() for c, r in zip(critics, reals)) / 2
        expected_fake = sum(c(f).mean() for c, f in zip(critics, fakes)) / 2
    # the same update written out by hand, on copies of the critics
    copies = [Score(3) for _ in critics]
    for copy, critic in zip(copies, critics):
        copy.load_state_dict(critic.state_dict())
    by_hand = torch.optim.SGD([p for c in copies for p in c.parameters()], lr=0.1)
    sum(loss.critic(c(r), c(f.detach())) for c, r, f in zip(copies, reals, fakes)).backward()
    by_hand.step()

    both = nn.ModuleList(critics)
    logs = gancore.critic_update(handle({"critic": both}), loss, *zip(critics, reals, fakes))
    assert logs["loss_critic"].item() == pytest.approx(expected_loss.item())
    assert logs["score_real"].item() == pytest.approx(expected_real.item())
    assert logs["score_fake"].item() == pytest.approx(expected_fake.item())
    for copy, critic in zip(copies, critics):
        assert torch.equal(copy.weight, critic.weight) and torch.equal(copy.bias, critic.bias)
    assert generator.weight.grad is None  # the fakes were detached
    with pytest.raises(ValueError, match="at least one"):
        gancore.critic_update(handle({"critic": both}), loss)


def test_critic_update_adds_penalties_and_applies_constraints():
    critic = Score(3)
    with torch.no_grad():
        critic.weight.fill_(1.0)
    clip, gp = gancore.build("regularizer", "weight-clipping", {"clip": 0.05}), gancore.build("regularizer", "r1", {"weight": 2.0})
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    logs = gancore.critic_update(handle({"critic": critic}), gancore.build("loss", "wasserstein"), (critic, real, fake),
                                 regularizers=[gp, clip])
    # R1 of a linear critic: gamma / 2 * |w|^2 = 1 * 3 for w = ones
    assert logs["penalty"].item() == pytest.approx(3.0)
    assert critic.weight.abs().max().item() <= 0.05 + 1e-7


def test_critic_update_binds_labels_for_conditional_critics():
    class Conditional(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(2, 3)

        def forward(self, x, labels):
            return (x * self.embed(labels)).sum(1)

    critic, labels = Conditional(), torch.tensor([0, 1, 1, 0])
    logs = gancore.critic_update(handle({"critic": critic}), gancore.build("loss", "hinge"),
                                 (critic, torch.randn(4, 3), torch.randn(4, 3)), labels=labels)
    assert critic.embed.weight.grad is not None and "loss_critic" in logs


def test_generator_loss_gives_relativistic_losses_the_real_scores():
    seen = {}

    class Relativistic(gancore.AdversarialLoss):
        needs_real_in_generator_step = True

        def generator(self, fake, real=None):
            seen["real"] = real
            return fake.mean() - real.mean()

    critic, fake, real = nn.Linear(2, 1), torch.randn(4, 2, requires_grad=True), torch.randn(4, 2)
    value = gancore.generator_loss(Relativistic(), critic, fake, real)
    assert seen["real"] is not None and not seen["real"].requires_grad
    value.backward()
    assert fake.grad is not None and critic.weight.grad is None
    assert gancore.generator_loss(gancore.build("loss", "wasserstein"), critic, fake, real).requires_grad


def test_critic_rounds_keep_only_the_last_rounds_graph():
    class Draws:
        batch_size = 2

        def next(self):
            return {"x": torch.zeros(2, 1)}

    layer, graphs = nn.Linear(1, 1), []
    for batch, generating in gancore.critic_rounds(Draws(), 3):
        with generating:
            graphs.append(layer(batch["x"]).requires_grad)
    assert graphs == [False, False, True]


def test_input_gradients_are_the_same_under_a_loss_scale():
    critic = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x = torch.randn(5, 3, requires_grad=True)
    plain = gancore.input_gradients(critic, x)
    updates = handle({"critic": critic}, amp="fp16")
    with updates.loss_scale("critic"):
        scaled = gancore.input_gradients(critic, x)
    assert torch.allclose(plain, scaled, rtol=1e-5, atol=1e-7)
    assert plain.requires_grad and plain.shape == (5, 3)


def test_first_party_plugins_update_only_through_the_handle():
    """The engine owns every update: no plugin runs a backward pass or steps an optimizer."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "plugins"
    forbidden = re.compile(r"\.backward\(|zero_grad\(|optimizer_step\(|optimizers?\[[^\]]*\]\.step\(|torch\.autograd\.backward\(")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if forbidden.search(line)]
    assert not offenders, offenders


def test_fp16_step_of_a_group_the_loss_does_not_reach():
    a, b = nn.Linear(2, 1), nn.Linear(2, 1)
    updates = handle({"generator": a, "predictor": b}, amp="fp16")
    before = b.weight.detach().clone()
    updates.step(("generator", "predictor"), a(torch.ones(1, 2)).sum())  # predictor not in the loss
    updates.step("predictor", a(torch.ones(1, 2)).sum().detach().requires_grad_())  # no weight reached
    assert torch.equal(b.weight.detach(), before) and not torch.equal(a.weight.detach(), before)


# ---------------------------------------------------------------- what parts return


class _WrongSize(nn.Module):
    latent_dim = 8

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(8, 3)  # the ring's points are 2-D

    def forward(self, z, labels=None):
        return self.net(z)


class _CubeCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return self.net(x)[:, :, None]  # (N, 1, 1)


class _ColumnCritic(_CubeCritic):
    def forward(self, x, labels=None):
        return self.net(x)  # (N, 1): trains silently unless refused


class _PerSampleLoss(gancore.AdversarialLoss):
    def critic(self, real, fake):
        return nn.functional.softplus(-real) + nn.functional.softplus(fake)  # no mean

    def generator(self, fake, real=None):
        return nn.functional.softplus(-fake).mean()


@pytest.mark.parametrize("objects, message", [
    ({"generator": _WrongSize()}, r"the generator's samples have shape \(3,\), but the data's are \(2,\)"),
    ({"critic": _CubeCritic()}, r"the critic \(_CubeCritic\) returned scores of shape \(64, 1, 1\)"),
    ({"critic": _ColumnCritic()}, r"the critic \(_ColumnCritic\) returned scores of shape \(64, 1\)"),
    ({"loss": _PerSampleLoss()}, r"the loss's critic objective \(_PerSampleLoss\) returned \(64,\), not a scalar"),
])
def test_a_part_that_returns_the_wrong_thing_is_named_in_one_line(tiny_ring, objects, message):
    for slot in objects:
        del tiny_ring[slot]
    run = gancore.create_run(tiny_ring, **objects)
    with pytest.raises(gancore.GancoreError, match=message):
        run.train(1)
