import numpy as np
import torch

from cellplateau.models._layers import bernoulli_mask
from cellplateau.models._optim import adamw


def test_fused_adamw_takes_the_steps_of_the_reference_adamw():
    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    opts = [adamw(nets[0].parameters(), lr=1e-2, weight_decay=1e-3),
            torch.optim.AdamW(nets[1].parameters(), lr=1e-2, weight_decay=1e-3, foreach=False)]
    x, y = torch.randn(64, 30), torch.randn(64, 4)
    start = [p.detach().clone() for p in nets[0].parameters()]
    for _ in range(20):
        for net, opt in zip(nets, opts):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()
    for a, b, s in zip(nets[0].parameters(), nets[1].parameters(), start):
        assert not torch.allclose(a, s), "the parameters moved"
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_bernoulli_mask_rate_and_seeding():
    masks = [bernoulli_mask((400, 500), 0.3, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert masks[0].dtype == torch.bool and masks[0].shape == (400, 500)
    assert torch.equal(masks[0], masks[1]), "the same generator state gives the same mask"
    gen = torch.Generator().manual_seed(7)
    first, second = bernoulli_mask((400, 500), 0.3, gen), bernoulli_mask((400, 500), 0.3, gen)
    assert not torch.equal(first, second), "successive draws differ"
    assert abs(first.float().mean().item() - 0.3) < 0.005
    assert abs(np.corrcoef(first.float().numpy().ravel(), second.float().numpy().ravel())[0, 1]) < 0.01
