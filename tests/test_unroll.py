"""The unrolled discriminator (Metz et al. 2017): differentiable Adam, gradients through the unrolling."""

from __future__ import annotations

import torch
from torch import nn

from ganzoo.unroll import adam_step, optimizer_state, surrogate_logits, unrolled_parameters


def _mlp(seed: int, fin: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    # BN after the nonlinearity, so a shift of the input is not normalised away
    return nn.Sequential(nn.Linear(fin, 8), nn.LeakyReLU(0.2), nn.BatchNorm1d(8), nn.Linear(8, 1))


class _D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = _mlp(0)

    def forward(self, x, y=None):
        return self.net(x).squeeze(1)


def _ns_d_loss(d_real, d_fake):
    return nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()


def test_adam_step_matches_torch_adam_over_several_steps():
    torch.manual_seed(1)
    w = nn.Parameter(torch.randn(5, 3))
    opt = torch.optim.Adam([w], lr=1e-2, betas=(0.5, 0.9), eps=1e-8)
    params, state = {"w": w.detach().clone()}, {}
    for _ in range(3):
        g = torch.randn(5, 3)
        w.grad = g.clone()
        opt.step()
        params, state = adam_step(params, {"w": g}, state, 1e-2, (0.5, 0.9), 1e-8)
    torch.testing.assert_close(params["w"], w.detach(), rtol=1e-5, atol=1e-6)
    # and the torch state read back by optimizer_state continues identically
    module = nn.Module()
    module.w = w
    st = optimizer_state(module, opt)
    assert st["w"]["step"] == 3.0
    torch.testing.assert_close(st["w"]["exp_avg"], state["w"]["exp_avg"])


def test_unrolling_changes_g_gradient_and_leaves_d_untouched():
    D = _D()
    opt = torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.999))
    torch.manual_seed(2)
    theta = nn.Parameter(torch.randn(4))  # a "generator": fakes = noise + theta
    noise = [torch.randn(16, 4) for _ in range(4)]
    reals = [torch.randn(16, 4) + 2 for _ in range(4)]
    before = {k: v.clone() for k, v in D.state_dict().items()}

    def g_grad(steps: int) -> torch.Tensor:
        it = iter(range(4))

        def batch():
            i = next(it)
            return reals[i], None, noise[i] + theta, None

        params, buffers = unrolled_parameters(D, opt, steps, batch, _ns_d_loss)
        logits = surrogate_logits(D, params, buffers, noise[3] + theta, None)
        (grad,) = torch.autograd.grad(nn.functional.softplus(-logits).mean(), theta)
        return grad

    g0, g2 = g_grad(0), g_grad(2)
    assert not torch.allclose(g0, g2), "unrolling must change G's gradient"
    for k, v in D.state_dict().items():
        torch.testing.assert_close(v, before[k]), k
    assert all(p.grad is None for p in D.parameters())

    # The gradient really flows through the unrolled steps: a version that detaches the fakes of the
    # unrolled steps (no second-order path) gives another gradient.
    it = iter(range(4))

    def detached_batch():
        i = next(it)
        return reals[i], None, (noise[i] + theta).detach(), None

    params, buffers = unrolled_parameters(D, opt, 2, detached_batch, _ns_d_loss)
    logits = surrogate_logits(D, params, buffers, noise[3] + theta, None)
    (g_detached,) = torch.autograd.grad(nn.functional.softplus(-logits).mean(), theta)
    assert not torch.allclose(g2, g_detached)
