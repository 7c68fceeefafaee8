"""``VariationalAutoEncoder``: the sample, the KL regulariser and the model's plumbing."""

import inspect

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from course_utils.models import AutoEncoder, VariationalAutoEncoder


def small_vae(latent_dim=4, seed=0):
    torch.manual_seed(seed)
    return VariationalAutoEncoder(1, (4, 8), 4, 3, latent_dim=latent_dim)


def random_params(n, d, seed, dtype=torch.float64):
    """Means and log-variances far from the prior's zeros, both signs, several scales."""
    g = torch.Generator().manual_seed(seed)
    mean = 3 * torch.randn(n, d, generator=g, dtype=dtype)
    log_var = 4 * torch.rand(n, d, generator=g, dtype=dtype) - 3  # variances e^-3 to e^1
    return mean, log_var


@pytest.mark.parametrize("seed", range(5))
def test_regularisation_is_the_kl_divergence_to_the_standard_normal(seed):
    mean, log_var = random_params(32, 6, seed)
    posterior = Normal(mean, torch.exp(0.5 * log_var))
    prior = Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = kl_divergence(posterior, prior).sum(dim=1).mean()  # per image, batch mean
    got = small_vae().regularisation((mean, log_var))
    assert got.shape == ()
    torch.testing.assert_close(got, expected)


def test_regularisation_sums_over_dimensions_and_averages_over_the_batch():
    vae = small_vae()
    mean, log_var = random_params(10, 3, seed=7)
    kl = vae.regularisation
    doubled = kl((torch.cat([mean, mean], 1), torch.cat([log_var, log_var], 1)))
    torch.testing.assert_close(doubled, 2 * kl((mean, log_var)))
    repeated = kl((torch.cat([mean, mean]), torch.cat([log_var, log_var])))
    torch.testing.assert_close(repeated, kl((mean, log_var)))


def test_regularisation_is_zero_only_at_the_prior():
    vae = small_vae()
    zeros = torch.zeros(5, 4)
    assert vae.regularisation((zeros, zeros)).item() == 0.0
    assert vae.regularisation((zeros + 0.1, zeros)).item() > 0
    assert vae.regularisation((zeros, zeros - 0.1)).item() > 0
    assert vae.regularisation((zeros, zeros + 0.1)).item() > 0


def test_samples_have_the_predicted_mean_and_standard_deviation():
    n = 200_000
    mean = torch.tensor([-2.0, 0.5, 3.0, 0.0]).expand(n, 4)
    log_var = torch.tensor([-3.0, 0.0, 2.0, 1.0]).expand(n, 4)
    torch.manual_seed(0)
    z = small_vae().sample(mean, log_var)
    std = torch.exp(0.5 * log_var[0])
    assert z.shape == (n, 4)
    # mean within 5 standard errors, standard deviation within 1 %
    assert torch.all((z.mean(0) - mean[0]).abs() < 5 * std / n**0.5), z.mean(0)
    torch.testing.assert_close(z.std(0), std, rtol=0.01, atol=0)


def test_samples_differ_between_calls():
    mean, log_var = torch.zeros(3, 4), torch.zeros(3, 4)
    vae = small_vae()
    assert not torch.equal(vae.sample(mean, log_var), vae.sample(mean, log_var))


def test_gradients_of_a_sample_reach_mean_and_log_variance():
    mean, log_var = random_params(8, 3, seed=1)
    mean.requires_grad_(True)
    log_var.requires_grad_(True)
    z = small_vae().sample(mean, log_var)
    z.sum().backward()
    # z = mean + exp(log_var / 2) * eps: dz/dmean = 1, dz/dlog_var = (z - mean) / 2
    torch.testing.assert_close(mean.grad, torch.ones_like(mean))
    torch.testing.assert_close(log_var.grad, (z - mean).detach() / 2)


def test_forward_returns_logits_and_the_encoders_parameters():
    vae = small_vae(latent_dim=3)
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(1)
    logits, (mean, log_var) = vae(x)
    expected_mean, expected_log_var = vae.encode(x)
    assert logits.shape == x.shape and mean.shape == log_var.shape == (5, 3)
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(log_var, expected_log_var)
    torch.manual_seed(1)
    eps = torch.randn(5, 3)
    torch.testing.assert_close(logits, vae.decode(mean + torch.exp(0.5 * log_var) * eps))


def test_reconstruction_gradients_reach_both_halves_of_the_encoder_head():
    vae = small_vae(latent_dim=3)
    logits, _ = vae(torch.rand(6, 1, 28, 28))
    logits.sum().backward()
    head = vae.encoder[-1].weight.grad  # rows: 3 means, then 3 log-variances
    assert head.shape[0] == 6
    assert head[:3].abs().sum() > 0 and head[3:].abs().sum() > 0


def test_generate_and_reconstruct_give_images_without_gradients():
    vae = small_vae(latent_dim=2)
    x = torch.rand(4, 1, 28, 28)
    generated = vae.generate(torch.randn(7, 2))
    assert generated.shape == (7, 1, 28, 28) and not generated.requires_grad
    assert generated.min() >= 0 and generated.max() <= 1
    reconstructed = vae.reconstruct(x)
    mean, _ = vae.encode(x)
    torch.testing.assert_close(reconstructed, torch.sigmoid(vae.decode(mean)))
    torch.testing.assert_close(vae.reconstruct(x), reconstructed)  # the mean code: deterministic


def test_a_vae_is_an_auto_encoder_with_a_gaussian_code_and_bernoulli_pixels():
    vae = small_vae(latent_dim=5)
    assert isinstance(vae, AutoEncoder) and vae.assumption == "bernoulli"
    assert vae.encoder[-1].out_features == 10 and vae.decoder[0].in_features == 5
    with pytest.raises(TypeError, match="latent_dim"):
        VariationalAutoEncoder(1, (4, 8), 4, 3, 5)  # a fifth positional number would be the stride


@pytest.mark.parametrize("latent_dim", [0, -2, 2.5, None, True])
def test_a_latent_dim_that_is_no_number_of_dimensions_is_refused(latent_dim):
    with pytest.raises(ValueError, match="latent_dim is a number of latent dimensions"):
        VariationalAutoEncoder(1, (4, 8), 4, 3, latent_dim=latent_dim)


def test_a_vae_refuses_an_image_size_its_decoder_cannot_restore():
    with pytest.raises(ValueError, match="multiple of 4"):
        VariationalAutoEncoder(1, (4, 8), 4, 3, latent_dim=2, image_size=30)


CALLS = [
    ((1, 4, 4, 3), {"latent_dim": 2}),
    ((1, 4, 4, 3, 1, 2, None), {"latent_dim": 2, "hidden_size": 8}),
    ((1, 4, 4, 3, 2), {}),  # latent_dim positional: refused
    ((1, 4, 4, 3), {"latent_dim": 2, "code_size": 3}),
    ((1, 4, 4, 3), {"latent_dim": 2, "assumption": "gauss"}),
    ((1, 4, 4), {"latent_dim": 2}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_signature_help_shows_accepts_what_the_constructor_accepts(args, kwargs):
    shown = inspect.signature(VariationalAutoEncoder)
    assert list(shown.parameters)[4:8] == ["stride", "pooling", "activation", "latent_dim"]
    try:
        VariationalAutoEncoder(*args, **kwargs)
    except TypeError:
        with pytest.raises(TypeError):
            shown.bind(*args, **kwargs)
    else:
        shown.bind(*args, **kwargs)
