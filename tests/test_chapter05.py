"""Chapter 5's exercises: each test cell passes the solution, fails the usual mistakes (named), and
passes a correct answer written differently, hidden tests included, in grading (fast) mode."""

import re

import pytest
from kernel import HIDDEN, CellFailed, ChapterKernel, with_answer

pytestmark = pytest.mark.slow

VAE = "ch5-vae"  # one class, three solution blocks: sample, regularisation, forward
NLL = "ch5-bernoulli-nll"
IWAE = "ch5-iwae"
IWAE_TESTS = "ch5-iwae-tests"
IWAE_OUTCOME = "ch5-iwae-outcome-tests"
TESTS = {
    "sample": "ch5-sample-tests",
    "regularisation": "ch5-regularisation-tests",
    "forward": "ch5-forward-tests",
    "nll": "ch5-bernoulli-nll-tests",
}
BLOCK = {"sample": 0, "regularisation": 1, "forward": 2}

#: One correct alternative per solution cell (a list of bodies for the class's three blocks).
ALTERNATIVES = {
    VAE: [
        "return torch.distributions.Normal(mean, log_var.mul(0.5).exp()).rsample()",
        "return -0.5 * torch.sum(1 + log_var - mean**2 - log_var.exp(), dim=1).mean()",
        "params = self.encode(x)\nreturn self.decode(self.sample(*params)), params",
    ],
    NLL: """
log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
per_pixel = -(target * log_p + (1 - target) * log_not_p)
return per_pixel.flatten(1).sum(dim=1).mean()
""",
}

#: Other correct ways of writing one block: (block name, body).
MORE_ALTERNATIVES = {
    "sample with randn of mean's shape and sqrt": (
        "sample",
        "eps = torch.randn(mean.shape)\nreturn mean + eps * torch.sqrt(torch.exp(log_var))",
    ),
    "KL from torch.distributions": (
        "regularisation",
        "q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))\n"
        "p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))\n"
        "return torch.distributions.kl_divergence(q, p).sum(-1).mean()",
    ),
    "forward through self.encoder directly": (
        "forward",
        "mean, log_var = self.encoder(x).chunk(2, dim=1)\n"
        "return self.decoder(self.sample(mean, log_var)), (mean, log_var)",
    ),
}

#: mistake -> (block, body, fails the visible tests too)
MISTAKES = {
    "std is exp(log_var)": (
        "sample",
        "return mean + torch.exp(log_var) * torch.randn_like(mean)",
        True,
    ),
    "std is log_var": ("sample", "return mean + log_var * torch.randn_like(mean)", True),
    "torch.normal blocks gradients": (
        "sample",
        "return torch.normal(mean, torch.exp(0.5 * log_var))",
        True,
    ),
    "Distribution.sample blocks gradients": (
        "sample",
        "return torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).sample()",
        True,
    ),
    "detached sample": (
        "sample",
        "return (mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)).detach()",
        True,
    ),
    "noise added to log_var": (
        "sample",
        "return log_var + torch.exp(0.5 * mean) * torch.randn_like(mean)",
        True,
    ),
    "fixed noise": ("sample", "return mean + torch.exp(0.5 * log_var)", True),
    "sample calls the reference": ("sample", "return super().sample(mean, log_var)", False),
    "sample calls the reference as a function": (
        "sample",
        "return VariationalAutoEncoder.sample(self, mean, log_var)",
        False,
    ),
    "KL with the wrong sign": (
        "regularisation",
        "return (-0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)).sum(dim=1).mean()",
        True,
    ),
    "KL without the log-variance term": (
        "regularisation",
        "return (0.5 * (mean.pow(2) + log_var.exp() - 1)).sum(dim=1).mean()",
        True,
    ),
    "KL with variance and log-variance swapped": (
        "regularisation",
        "return (0.5 * (mean.pow(2) + log_var - 1 - log_var.exp())).sum(dim=1).mean()",
        True,
    ),
    "KL with sigma instead of sigma squared": (
        "regularisation",
        "return (0.5 * (mean.pow(2) + (0.5 * log_var).exp() - 1 - log_var)).sum(dim=1).mean()",
        True,
    ),
    "KL averaged over dimensions": (
        "regularisation",
        "return (0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)).mean()",
        True,
    ),
    "KL summed over the batch": (
        "regularisation",
        "return (0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)).sum()",
        True,
    ),
    "KL calls the reference": ("regularisation", "return super().regularisation(params)", False),
    "mean and log_var swapped in forward": (
        "forward",
        "log_var, mean = self.encode(x)\nreturn self.decode(self.sample(mean, log_var)), (mean, log_var)",
        True,
    ),
    "mean and log_var swapped into sample": (
        "forward",
        "mean, log_var = self.encode(x)\nreturn self.decode(self.sample(log_var, mean)), (mean, log_var)",
        True,
    ),
    "forward decodes the mean": (
        "forward",
        "mean, log_var = self.encode(x)\nreturn self.decode(mean), (mean, log_var)",
        True,
    ),
    "forward decodes a detached sample": (
        "forward",
        "mean, log_var = self.encode(x)\n"
        "return self.decode(self.sample(mean, log_var).detach()), (mean, log_var)",
        True,
    ),
    "forward returns the parts the other way round": (
        "forward",
        "mean, log_var = self.encode(x)\nreturn (mean, log_var), self.decode(self.sample(mean, log_var))",
        True,
    ),
    "forward calls the reference": ("forward", "return super().forward(x)", False),
    "reconstruction averaged over pixels (PyTorch's default)": (
        "nll",
        "return F.binary_cross_entropy_with_logits(logits, target)",
        True,
    ),
    "reconstruction summed over the batch": (
        "nll",
        'return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")',
        True,
    ),
    "cross-entropy on the sigmoid (log 0 for large logits)": (
        "nll",
        'return F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum") / len(target)',
        True,
    ),
    "squared error instead of the Bernoulli likelihood": (
        "nll",
        'return F.mse_loss(torch.sigmoid(logits), target, reduction="sum") / len(target)',
        True,
    ),
    "reconstruction calls the reference": (
        "nll",
        "from course_utils.losses import bernoulli_nll as reference\nreturn reference(logits, target)",
        False,
    ),
    "reconstruction calls the per-pixel reference": (
        "nll",
        "from course_utils.losses import bernoulli_loss\n"
        "return 784 * bernoulli_loss(logits, target)",
        False,
    ),
}

#: the importance-weighted bound: the log weights written out, K x N (mean, log_var given above)
LOG_WEIGHTS = """
std = torch.exp(0.5 * log_var)
z = mean + std * noise
logits = model.decode(z.flatten(0, 1)).view(len(noise), *x.shape)
log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
log_px_z = log_px_z.flatten(2).sum(2)
log_w = log_px_z + Normal(0.0, 1.0).log_prob(z).sum(2) - Normal(mean, std).log_prob(z).sum(2)
"""

#: correct bounds written differently
IWAE_ALTERNATIVES = {
    "a loop over the K codes, log-sum-exp by hand with the max": """
q = Normal(mean, torch.exp(0.5 * log_var))
log_w = []
for eps in noise:
    z = mean + q.scale * eps
    log_px = -F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="none")
    log_w.append(log_px.sum(dim=(1, 2, 3)) + Normal(0.0, 1.0).log_prob(z).sum(1) - q.log_prob(z).sum(1))
log_w = torch.stack(log_w)
top = log_w.max(dim=0).values
return top + (log_w - top).exp().mean(dim=0).log()
""",
    "the Gaussian log-densities written out": """
z = mean + torch.exp(0.5 * log_var) * noise
logits = model.decode(z.flatten(0, 1)).view(len(noise), *x.shape)
log_px_z = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).flatten(2).sum(2)
half_log_2pi = 0.5 * math.log(2 * math.pi)
log_pz = (-0.5 * z**2 - half_log_2pi).sum(2)
log_qz = (-0.5 * noise**2 - 0.5 * log_var - half_log_2pi).sum(2)
return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(noise.shape[0])
""",
}

#: the bound's entry of ALTERNATIVES (graded through nbgrader by test_autograde.py)
ALTERNATIVES[IWAE] = IWAE_ALTERNATIVES["a loop over the K codes, log-sum-exp by hand with the max"]

#: wrong bounds -> (the test cell that must catch it, fails its visible part too)
IWAE_MISTAKES = {
    "the mean of exp, outside log space (underflows to log 0)": (
        LOG_WEIGHTS + "return torch.log(torch.exp(log_w).mean(dim=0))",
        IWAE_TESTS,
        True,
    ),
    "the mean of the log weights (the ELBO for every K)": (
        LOG_WEIGHTS + "return log_w.mean(dim=0)",
        IWAE_TESTS,
        True,
    ),
    "log-sum-exp without the 1/K": (
        LOG_WEIGHTS + "return torch.logsumexp(log_w, dim=0)",
        IWAE_TESTS,
        True,
    ),
    "the closed-form KL in place of log p(z) - log q(z | x)": (
        LOG_WEIGHTS.replace(
            "log_w = log_px_z + Normal(0.0, 1.0).log_prob(z).sum(2) - Normal(mean, std).log_prob(z).sum(2)",
            "log_w = log_px_z - 0.5 * (mean**2 + log_var.exp() - 1 - log_var).sum(1)",
        )
        + "return torch.logsumexp(log_w, dim=0) - math.log(len(noise))",
        IWAE_TESTS,
        True,
    ),
    "std = exp(log_var)": (
        LOG_WEIGHTS.replace("std = torch.exp(0.5 * log_var)", "std = torch.exp(log_var)")
        + "return torch.logsumexp(log_w, dim=0) - math.log(len(noise))",
        IWAE_TESTS,
        True,
    ),
    "the course's reparameterise and per-image cross-entropy": (
        LOG_WEIGHTS.replace(
            "z = mean + std * noise",
            "from course_utils.likelihood import reparameterise\nz = reparameterise(mean, log_var, noise)",
        ).replace(
            'log_px_z = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")\n'
            "log_px_z = log_px_z.flatten(2).sum(2)",
            "from course_utils.losses import bernoulli_nll_per_image\n"
            "log_px_z = -bernoulli_nll_per_image(logits.flatten(0, 1), x.repeat(len(noise), 1, 1, 1))"
            ".view(len(noise), len(x))",
        )
        + "return torch.logsumexp(log_w, dim=0) - math.log(len(noise))",
        IWAE_TESTS,
        False,
    ),
}

METHOD = r"(    def {name}\(self.*?)(?=\n    def |\Z)"
#: ways of taking a method from the course's VariationalAutoEncoder instead of writing it
BORROWED = {
    "inherited": "",
    "aliased": "    {name} = VariationalAutoEncoder.{name}\n",
    "aliased from the module": (
        "    from course_utils import models as _models\n\n    {name} = _models.VariationalAutoEncoder.{name}\n"
    ),
}


@pytest.fixture(scope="module")
def kernel():
    with ChapterKernel("05_variational_autoencoders") as k:
        k.run_before(VAE)
        yield k


def define(kernel, task, body):
    """Define the answer ``body`` for ``task``, the instructor's solution everywhere else."""
    if task == "nll":
        kernel.answer(NLL, body)
    else:
        kernel.answer(VAE, body, block=BLOCK[task])


def test_solutions_pass_every_test_cell(kernel):
    kernel.run_cell(VAE)
    kernel.run_cell(NLL)
    for tests in TESTS.values():
        kernel.run_cell(tests)
        assert HIDDEN.search(kernel.cell(tests)), f"{tests} has no hidden tests"


def test_points_add_up_to_ten(kernel):
    """The autograded test cells; the written answers are graded by hand, on top."""
    cells = [
        c
        for c in kernel.notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    ]
    assert sum(c.metadata.nbgrader.points for c in cells) == 10


def test_alternatives_pass_every_test_cell(kernel):
    source = kernel.cell(VAE)
    for block, body in reversed(list(enumerate(ALTERNATIVES[VAE]))):  # last first: indices hold
        source = with_answer(source, body, block)
    kernel.run(source)
    kernel.answer(NLL, ALTERNATIVES[NLL])
    for tests in TESTS.values():
        kernel.assert_passes(tests, "ALTERNATIVES")
    kernel.run_cell(VAE)
    kernel.run_cell(NLL)


@pytest.mark.parametrize("alternative", MORE_ALTERNATIVES)
def test_other_correct_answers_pass(kernel, alternative):
    task, body = MORE_ALTERNATIVES[alternative]
    define(kernel, task, body)
    try:
        kernel.assert_passes(TESTS[task], alternative)
    finally:
        kernel.run_cell(VAE)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_mistake_fails_its_test_cell(kernel, mistake):
    task, body, visible = MISTAKES[mistake]
    define(kernel, task, body)
    try:
        kernel.assert_fails(TESTS[task], mistake, visible=visible)
    finally:
        kernel.run_cell(VAE)
        kernel.run_cell(NLL)


@pytest.mark.parametrize("how", BORROWED)
@pytest.mark.parametrize("task", ["sample", "regularisation", "forward"])
def test_borrowing_the_reference_method_fails_in_the_hidden_tests(kernel, task, how):
    source = kernel.cell(VAE)
    method = re.compile(METHOD.format(name=task), re.S)
    assert len(method.findall(source)) == 1, f"cannot find the method {task} in {VAE}"
    borrowed = method.sub(lambda _: BORROWED[how].format(name=task), source)
    kernel.run(borrowed)
    try:
        kernel.assert_fails(TESTS[task], f"{task} {how} from the reference", visible=False)
    finally:
        kernel.run_cell(VAE)


@pytest.fixture(scope="module")
def iwae_kernel():
    with ChapterKernel("05_variational_autoencoders") as k:
        k.run_before(IWAE)
        k.run_cell(IWAE)
        yield k


def test_the_bounds_solution_passes_and_alternatives_keep_the_points(iwae_kernel):
    for tests in (IWAE_TESTS, IWAE_OUTCOME):
        iwae_kernel.run_cell(tests)
        assert HIDDEN.search(iwae_kernel.cell(tests)), f"{tests} has no hidden tests"
    try:
        for name, body in IWAE_ALTERNATIVES.items():
            iwae_kernel.answer(IWAE, body)
            for tests in (IWAE_TESTS, IWAE_OUTCOME):
                iwae_kernel.assert_passes(tests, name)
    finally:
        iwae_kernel.run_cell(IWAE)


@pytest.mark.parametrize("mistake", IWAE_MISTAKES)
def test_bound_mistake_fails(iwae_kernel, mistake):
    body, tests, visible = IWAE_MISTAKES[mistake]
    iwae_kernel.answer(IWAE, body)
    try:
        iwae_kernel.assert_fails(tests, mistake, visible=visible)
        if not visible:
            assert "course_utils" in str(_failure(iwae_kernel, tests)), mistake
    finally:
        iwae_kernel.run_cell(IWAE)


def _failure(kernel, grade):
    """What the test cell ``grade`` raised (its exception's message), or None."""
    try:
        kernel.run_cell(grade)
    except CellFailed as error:
        return error.evalue
    return None
