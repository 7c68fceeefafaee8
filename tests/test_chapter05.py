"""Chapter 5's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, hidden tests included, and fails the usual
mistakes (named) and every way of taking the course's VariationalAutoEncoder's methods; the
importance-weighted bound's rows are judged by its own test cell, and its alternatives by both."""

import re

import pytest
from exercises import Edit, Exercise, Mistake, Task, block, hidden

pytestmark = pytest.mark.slow

PARTS = ("sample", "regularisation", "forward")  # the VAE cell's solution blocks, in order
KL = "return (0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)){}"
ENCODED = "mean, log_var = self.encode(x)\nreturn "
METHOD = r"    def {name}\(self.*?(?=\n    def |\Z)"
BORROWED = {  # ways of taking a method from the course's VariationalAutoEncoder
    "inherited": "",
    "aliased": "    {name} = VariationalAutoEncoder.{name}\n",
    "aliased from the module": "    from course_utils import models as _models\n\n    {name} = _models.VariationalAutoEncoder.{name}\n",
}  # fmt: skip


def wrong(part, body, hidden=False, match=None):
    """A wrong ``part`` of the VAE, that its own test cell must catch."""
    index = PARTS.index(part)
    return Mistake(block(index, body), hidden=hidden, match=match, tests=(f"ch5-{part}-tests",))


VAE = Task(
    tests={"ch5-sample-tests": 1, "ch5-regularisation-tests": 1, "ch5-forward-tests": 1},
    alternatives={
        "rsample, the KL summed with torch.sum, forward through sample": [
            "return torch.distributions.Normal(mean, log_var.mul(0.5).exp()).rsample()",
            "return -0.5 * torch.sum(1 + log_var - mean**2 - log_var.exp(), dim=1).mean()",
            "params = self.encode(x)\nreturn self.decode(self.sample(*params)), params",
        ],
        "sample with randn of mean's shape and sqrt": block(0, "eps = torch.randn(mean.shape)\nreturn mean + eps * torch.sqrt(torch.exp(log_var))"),
        "KL from torch.distributions": block(1, """
q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
return torch.distributions.kl_divergence(q, p).sum(-1).mean()"""),
        "forward through self.encoder directly": block(2, "mean, log_var = self.encoder(x).chunk(2, dim=1)\nreturn self.decoder(self.sample(mean, log_var)), (mean, log_var)"),
    },
    mistakes={
        "std is exp(log_var)": wrong("sample", "return mean + torch.exp(log_var) * torch.randn_like(mean)", match="the standard deviation is exp\\(log_var / 2\\)"),
        "std is log_var": wrong("sample", "return mean + log_var * torch.randn_like(mean)", match="the standard deviation is exp\\(log_var / 2\\)"),
        "torch.normal blocks gradients": wrong("sample", "return torch.normal(mean, torch.exp(0.5 * log_var))", match="d sample / d mean should be 1"),
        "Distribution.sample blocks gradients": wrong("sample", "return torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).sample()", match="no gradient can flow back through your sample"),
        "detached sample": wrong("sample", "return (mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)).detach()", match="no gradient can flow back through your sample"),
        "noise added to log_var": wrong("sample", "return log_var + torch.exp(0.5 * mean) * torch.randn_like(mean)", match="is the noise added to `mean`"),
        "fixed noise": wrong("sample", "return mean + torch.exp(0.5 * log_var)", match="is the noise added to `mean`"),
        "KL with the wrong sign": wrong("regularisation", "return (-0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)).sum(dim=1).mean()", match="never negative"),
        "KL without the log-variance term": wrong("regularisation", "return (0.5 * (mean.pow(2) + log_var.exp() - 1)).sum(dim=1).mean()", match="is the - log sigma\\^2 term there"),
        "KL with variance and log-variance swapped": wrong("regularisation", "return (0.5 * (mean.pow(2) + log_var - 1 - log_var.exp())).sum(dim=1).mean()", match="prior from itself is 0"),
        "KL with sigma instead of sigma squared": wrong("regularisation", "return (0.5 * (mean.pow(2) + (0.5 * log_var).exp() - 1 - log_var)).sum(dim=1).mean()", match="is the - log sigma\\^2 term there"),
        "KL averaged over dimensions": wrong("regularisation", KL.format(".mean()"), match="is the - log sigma\\^2 term there"),
        "KL summed over the batch": wrong("regularisation", KL.format(".sum()"), match="average the images' KL divergences"),
        "mean and log_var swapped in forward": wrong("forward", "log_var, mean = self.encode(x)\nreturn self.decode(self.sample(mean, log_var)), (mean, log_var)", match="should be \\(mean, log_var\\)"),
        "mean and log_var swapped into sample": wrong("forward", ENCODED + "self.decode(self.sample(log_var, mean)), (mean, log_var)", match="decode \\(almost exactly\\) the mean"),
        "forward decodes the mean": wrong("forward", ENCODED + "self.decode(mean), (mean, log_var)", match="a new random sample each time"),
        "forward decodes a detached sample": wrong("forward", ENCODED + "self.decode(self.sample(mean, log_var).detach()), (mean, log_var)", match="no gradient reaches log_var"),
        "forward returns the parts the other way round": wrong("forward", ENCODED + "(mean, log_var), self.decode(self.sample(mean, log_var))", match="the logits, a tensor, not a tuple"),
    },
    reuse={
        "sample calls the reference": wrong("sample", "return super().sample(mean, log_var)", hidden=True),
        "sample calls the reference as a function": wrong("sample", "return VariationalAutoEncoder.sample(self, mean, log_var)", hidden=True),
        "KL calls the reference": wrong("regularisation", "return super().regularisation(params)", hidden=True),
        "forward calls the reference": wrong("forward", "return super().forward(x)", hidden=True),
    } | {
        f"{part} {how} from the reference": Mistake(
            Edit({re.compile(METHOD.format(name=part), re.S): alias.format(name=part)}), hidden=True, tests=(f"ch5-{part}-tests",)
        ) for part in PARTS for how, alias in BORROWED.items()
    },
)  # fmt: skip

NLL = Task(
    tests={"ch5-bernoulli-nll-tests": 1},
    alternatives={
        "bernoulli_nll: log-sigmoids, summed per image": """
log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
per_pixel = -(target * log_p + (1 - target) * log_not_p)
return per_pixel.flatten(1).sum(dim=1).mean()""",
    },
    mistakes={
        "reconstruction averaged over pixels (PyTorch's default)": Mistake("return F.binary_cross_entropy_with_logits(logits, target)", match="784 times too small"),
        "reconstruction summed over the batch": Mistake('return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")', match="summed over the whole batch"),
        "cross-entropy on the sigmoid (log 0 for large logits)": Mistake('return F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum") / len(target)', match="rounds to log 0"),
        "squared error instead of the Bernoulli likelihood": Mistake('return F.mse_loss(torch.sigmoid(logits), target, reduction="sum") / len(target)', match="expected 1084.55"),
    },
    reuse={
        "reconstruction calls the reference": Mistake("from course_utils.losses import bernoulli_nll as reference\nreturn reference(logits, target)", hidden=True),
        "reconstruction calls the per-pixel reference": Mistake("from course_utils.losses import bernoulli_loss\nreturn 784 * bernoulli_loss(logits, target)", hidden=True),
    },
)  # fmt: skip

RETURN = "return torch.logsumexp(log_w, dim=0) - math.log(len(noise))"

IWAE = Task(
    tests={"ch5-iwae-tests": 3, "ch5-iwae-outcome-tests": 3},
    alternatives={
        "a loop over the K codes, log-sum-exp by hand with the max": """
q = Normal(mean, torch.exp(0.5 * log_var))
log_w = []
for eps in noise:
    z = mean + q.scale * eps
    log_px = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none")
    log_w.append(log_px.sum(dim=(1, 2, 3)) + Normal(0.0, 1.0).log_prob(z).sum(1) - q.log_prob(z).sum(1))
log_w = torch.stack(log_w)
top = log_w.max(dim=0).values
return top + (log_w - top).exp().mean(dim=0).log()""",
        "the Gaussian log-densities written out": """
z = mean + torch.exp(0.5 * log_var) * noise
logits = model.decode(z.flatten(0, 1)).view(len(noise), *x.shape)
log_px_z = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).flatten(2).sum(2)
half_log_2pi = 0.5 * math.log(2 * math.pi)
log_pz = (-0.5 * z**2 - half_log_2pi).sum(2)
log_qz = (-0.5 * noise**2 - 0.5 * log_var - half_log_2pi).sum(2)
return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(noise.shape[0])""",
    },
    mistakes={  # the instructor's bound, edited
        "the mean of exp, outside log space (underflows to log 0)": Mistake(Edit({RETURN: "return torch.log(torch.exp(log_w).mean(dim=0))"}), match="not finite"),
        "the mean of the log weights (the ELBO for every K)": Mistake(Edit({RETURN: "return log_w.mean(dim=0)"}), match="log of the \\*mean\\* of the K"),
        "log-sum-exp without the 1/K": Mistake(Edit({RETURN: "return torch.logsumexp(log_w, dim=0)"}), match="log of the \\*mean\\* of the K"),
        "the closed-form KL in place of log p(z) - log q(z | x)": Mistake(Edit({"log_px_z + log_pz - log_qz": "log_px_z - 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1)"}), match="for K = 1 the bound is the one-sample ELBO"),
        "std = exp(log_var)": Mistake(Edit({"std = torch.exp(0.5 * log_var)": "std = torch.exp(log_var)"}), match="for K = 1 the bound is the one-sample ELBO"),
    },
    reuse={
        "the course's reparameterise and per-image cross-entropy": hidden(Edit({
            "z = mean + std * noise": "z = reparameterise(mean, log_var, noise)",
            "log_px_z = log_px_z.flatten(2).sum(2)": "log_px_z = -bernoulli_nll_per_image(logits.flatten(0, 1), x.repeat(len(noise), 1, 1, 1)).view(len(noise), len(x))",
        }, before="from course_utils.likelihood import reparameterise\nfrom course_utils.losses import bernoulli_nll_per_image\n")),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "05_variational_autoencoders", {"ch5-vae": VAE, "ch5-bernoulli-nll": NLL, "ch5-iwae": IWAE}
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests
