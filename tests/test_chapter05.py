"""Chapter 5's exercises: each test cell passes the solution, fails the usual mistakes (named), and
passes a correct answer written differently, hidden tests included, in grading (fast) mode."""

import re

import pytest
from kernel import HIDDEN, ChapterKernel, with_answer

pytestmark = pytest.mark.slow

VAE = "ch5-vae"  # one class, three solution blocks: sample, regularisation, forward
NLL = "ch5-bernoulli-nll"
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
