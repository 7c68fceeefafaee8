"""The negative ELBO and the importance-weighted bound, against exact numbers for a tiny VAE
whose likelihood can be integrated numerically (a one-dimensional code)."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils.likelihood import (
    evaluate_vae,
    gaussian_kl,
    gaussian_kl_terms,
    importance_weighted_nll,
    reparameterise,
)


class TinyVAE(nn.Module):
    """One latent number; four Bernoulli pixels with logits ``a z + b``; a fixed, imperfect q."""

    def __init__(self, log_var=-1.0):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([2.0, -1.0, 0.5, 3.0]))
        self.b = nn.Parameter(torch.tensor([0.5, 0.0, -1.0, 1.0]))
        self.log_var = log_var

    def encode(self, x):
        mean = (x.flatten(1) * self.a).sum(1, keepdim=True) * 0.3
        return mean, torch.full_like(mean, self.log_var)

    def decode(self, z):
        return (z * self.a + self.b).view(-1, 1, 2, 2)


IMAGES = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]])


def exact_nll(model, x):
    """-log p(x) = -log ∫ p(x | z) N(z; 0, 1) dz, by the trapezoid rule on a fine grid."""
    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    logits = z[:, None] * model.a.double() + model.b.double()
    log_joint = Bernoulli(logits=logits).log_prob(x.double()).sum(1) + Normal(0.0, 1.0).log_prob(z)
    return -(torch.logsumexp(log_joint, 0) + math.log(z[1] - z[0])).item()


@pytest.mark.parametrize("index", range(len(IMAGES)))
def test_importance_weighted_bound_tightens_to_the_exact_likelihood(index):
    model, x = TinyVAE(), IMAGES[index].view(1, 1, 2, 2)
    exact = exact_nll(model, IMAGES[index])
    many = x.expand(4000, -1, -1, -1)  # many copies: the average over noise is accurate
    bounds = [importance_weighted_nll(model, many, k, seed=1) for k in (1, 10, 100)]
    assert bounds[0] > bounds[1] > bounds[2] > exact - 1e-3
    assert importance_weighted_nll(model, x.expand(50, -1, -1, -1), 5000) == pytest.approx(
        exact, abs=0.01
    )
    elbo = evaluate_vae(model, many, seed=2)["negative_elbo"]
    assert bounds[0] == pytest.approx(elbo, abs=0.05)  # one sample: the ELBO again


def test_negative_elbo_parts_match_torch_distributions():
    model = TinyVAE(log_var=-30.0)  # q is almost a point: the sampled code is its mean
    x = IMAGES.view(-1, 1, 2, 2)
    result = evaluate_vae(model, x)
    mean, log_var = model.encode(x)
    logits = model.decode(mean).flatten(1)
    nll = -Bernoulli(logits=logits).log_prob(IMAGES).sum(1).mean().item()
    q = Normal(mean, torch.exp(0.5 * log_var))
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(1).mean().item()
    assert result["reconstruction"] == pytest.approx(nll, rel=1e-5)
    assert result["kl"] == pytest.approx(kl, rel=1e-5)
    assert result["negative_elbo"] == pytest.approx(nll + kl, rel=1e-5)


def test_results_are_reproducible_and_the_sample_count_is_checked():
    model, x = TinyVAE(), IMAGES.view(-1, 1, 2, 2)
    assert importance_weighted_nll(model, x, 10, seed=3) == importance_weighted_nll(
        model, x, 10, seed=3
    )
    assert evaluate_vae(model, x, seed=4) == evaluate_vae(model, x, seed=4)
    with pytest.raises(ValueError, match="at least 1"):
        importance_weighted_nll(model, x, 0)


def test_gaussian_kl_is_torch_distributions_kl_per_dimension_and_per_row():
    torch.manual_seed(1)
    mean, log_var = torch.randn(5, 3), torch.randn(5, 3)
    expected = kl_divergence(Normal(mean, torch.exp(0.5 * log_var)), Normal(0.0, 1.0))
    assert torch.allclose(gaussian_kl_terms(mean, log_var), expected, atol=1e-6)
    assert torch.allclose(gaussian_kl(mean, log_var), expected.sum(1), atol=1e-6)


def test_reparameterise_moves_and_scales_the_noise_differentiably():
    mean = torch.tensor([1.0, -2.0], requires_grad=True)
    log_var = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    noise = torch.tensor([0.5, -1.0])
    z = reparameterise(mean, log_var, noise)
    assert torch.allclose(z, torch.tensor([1.5, -4.0]))
    z.sum().backward()
    assert torch.allclose(mean.grad, torch.ones(2))
    assert torch.allclose(log_var.grad, 0.5 * torch.exp(0.5 * log_var.detach()) * noise)


def test_bits_per_dim_is_nats_over_pixels_times_ln_2():
    from course_utils.likelihood import bits_per_dim

    assert bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    assert bits_per_dim(250.0) == pytest.approx(250.0 / (784 * math.log(2)))
    assert bits_per_dim(torch.tensor(30.0), pixels=10) == pytest.approx(30 / (10 * math.log(2)))
    with pytest.raises(ValueError, match="pixels"):
        bits_per_dim(1.0, pixels=0)
