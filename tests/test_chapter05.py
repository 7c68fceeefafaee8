"""Chapter 5's exercise: its test cells pass on the solution and fail on the usual mistakes."""

import pytest
from kernel import ChapterKernel

pytestmark = pytest.mark.slow

EXERCISE = "ch5-vae"
TESTS = ("ch5-sample-tests", "ch5-regularisation-tests", "ch5-forward-tests")
SAMPLE = "return mean + std * torch.randn_like(std)"
KL = "kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var)"

#: mistake -> (text of the solution, what a student writes instead, the test cell that must fail)
MISTAKES = {
    "std is exp(log_var)": ("std = torch.exp(0.5 * log_var)", "std = torch.exp(log_var)", 0),
    "std is log_var": ("std = torch.exp(0.5 * log_var)", "std = log_var", 0),
    "torch.normal blocks gradients": (SAMPLE, "return torch.normal(mean, std)", 0),
    "Distribution.sample blocks gradients": (SAMPLE, "return Normal(mean, std).sample()", 0),
    "detached sample": (SAMPLE, "return (mean + std * torch.randn_like(std)).detach()", 0),
    "noise added to log_var": (
        SAMPLE,
        "return log_var + torch.exp(0.5 * mean) * torch.randn_like(mean)",
        0,
    ),
    "fixed noise": (SAMPLE, "return mean + std * torch.ones_like(std)", 0),
    "sample calls the reference": (SAMPLE, "return super().sample(mean, log_var)", 0),
    "KL with the wrong sign": (KL, KL.replace("kl = 0.5", "kl = -0.5"), 1),
    "KL without the log-variance term": (KL, KL.replace(" - log_var)", ")"), 1),
    "KL with variance and log-variance swapped": (
        KL,
        "kl = 0.5 * (mean.pow(2) + log_var - 1 - log_var.exp())",
        1,
    ),
    "KL averaged over dimensions": ("return kl.sum(dim=1).mean()", "return kl.mean()", 1),
    "KL summed over the batch": ("return kl.sum(dim=1).mean()", "return kl.sum()", 1),
    "KL calls the reference": (KL, "return super().regularisation(params)", 1),
    "mean and log_var swapped in forward": (
        "mean, log_var = self.encode(x)",
        "log_var, mean = self.encode(x)",
        2,
    ),
    "mean and log_var swapped into sample": (
        "z = self.sample(mean, log_var)",
        "z = self.sample(log_var, mean)",
        2,
    ),
    "forward decodes the mean": ("z = self.sample(mean, log_var)", "z = mean", 2),
    "forward decodes a detached sample": (
        "z = self.sample(mean, log_var)",
        "z = self.sample(mean, log_var).detach()",
        2,
    ),
    "forward calls the reference": (
        "mean, log_var = self.encode(x)",
        "return super().forward(x)",
        2,
    ),
}


@pytest.fixture(scope="module")
def kernel():
    with ChapterKernel("05_variational_autoencoders") as k:
        k.run_before(EXERCISE)
        yield k


def test_solution_passes_every_test_cell(kernel):
    kernel.run_cell(EXERCISE)
    for grade in TESTS:
        kernel.run_cell(grade)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_mistake_fails_its_test_cell(kernel, mistake):
    old, new, index = MISTAKES[mistake]
    source = kernel.cell(EXERCISE)
    assert source.count(old) == 1, f"the solution no longer contains {old!r}"
    kernel.run(source.replace(old, new))
    assert kernel.fails(TESTS[index]), f"{TESTS[index]} passes with the mistake: {mistake}"
