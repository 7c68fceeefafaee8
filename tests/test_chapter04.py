"""Chapter 4's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, and fails the mistakes students make (in its
visible part, or only in the hidden one) and the library's own losses."""

import pytest
from exercises import Exercise, Task, block, hidden

pytestmark = pytest.mark.slow

TRUNCATED = """
inside = 0.5 * ((targets - logits) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
at_zero = -torch.special.log_ndtr(-logits / sigma)
at_one = -torch.special.log_ndtr((logits - 1) / sigma)
nll = torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside))
return nll.mean()
"""
INTENSITIES = """
if assumption == "gauss":
    return logits.clone()
if assumption == "truncated":
    return logits.clamp(0, 1)
if assumption == "bernoulli":
    return torch.sigmoid(logits)
if assumption == "binary":
    return (logits > 0).to(logits.dtype)
raise ValueError(f"unknown assumption {assumption!r}: choose one of {ASSUMPTIONS}")
"""


def intensities(old, new):
    """``INTENSITIES`` with ``old`` written as ``new``."""
    assert old in INTENSITIES, old
    return INTENSITIES.replace(old, new)


def choice(transform, back, assumption):
    """The three blocks of the agreement cell: targets, their way back, the assumption."""
    return [f"return {transform}", f"return {back}", assumption]


STANDARDISED, BACK = "(images - mean) / std", "intensities * std + mean"
IDENTITY, BINARISED = "images.clone()", "(images > 0.5).float()"

LOSSES = Task(
    tests={"ch4-losses-tests": 4},
    alternatives={
        "losses: library functions and distributions": [
            "return F.mse_loss(logits, targets)",
            """
normal = torch.distributions.Normal(logits, sigma)
below = -torch.special.log_ndtr((0 - logits) / sigma)
above = -torch.special.log_ndtr((logits - 1) / sigma)
nll = -normal.log_prob(targets)
nll = torch.where(targets <= 0, below, nll)
nll = torch.where(targets >= 1, above, nll)
return nll.mean()""",
            "return F.binary_cross_entropy_with_logits(logits, targets)",
        ],
    },
    mistakes={
        "gauss: half the squared error": block(0, "return ((targets - logits) ** 2).mean() / 2"),
        "gauss: summed over pixels": block(0, "return ((targets - logits) ** 2).sum()"),
        "truncated: no constant": block(1, TRUNCATED.replace(" + math.log(sigma) + 0.5 * math.log(2 * math.pi)", "")),
        "truncated: the density at 0 and 1 too (no clipping)": block(1, "return -torch.distributions.Normal(logits, sigma).log_prob(targets).mean()"),
        "truncated: log of the cdf (infinite far from [0, 1])": block(1, """
normal = torch.distributions.Normal(logits, sigma)
inside = -normal.log_prob(targets)
at_zero = -normal.cdf(torch.zeros_like(targets)).log()
at_one = -(1 - normal.cdf(torch.ones_like(targets))).log()
return torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside)).mean()"""),
        "truncated: Φ(a/σ) at 0, the wrong tail": block(1, TRUNCATED.replace("log_ndtr(-logits / sigma)", "log_ndtr(logits / sigma)")),
        "truncated: σ fixed at 0.1": hidden(block(1, TRUNCATED.replace("sigma", "0.1"))),
        "bernoulli: log of the sigmoid (infinite for large logits)": block(2, "p = torch.sigmoid(logits)\nreturn -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()"),
        "bernoulli: squared error on the sigmoid": block(2, "return ((torch.sigmoid(logits) - targets) ** 2).mean()"),
        "bernoulli: summed over pixels": block(2, "return F.binary_cross_entropy_with_logits(logits, targets, reduction='sum')"),
    },
    reuse={
        "truncated: the course's loss": block(1, "return loss_for('truncated')(logits, targets)"),
        "bernoulli: the course's loss": block(2, "return loss_for('bernoulli')(logits, targets)"),
    },
)  # fmt: skip

TO_INTENSITIES = Task(
    tests={"ch4-intensities-tests": 3},
    alternatives={
        "to_intensities: a table of readings": """
readings = {
    "gauss": lambda a: a + 0,
    "truncated": lambda a: torch.clamp(a, min=0.0, max=1.0),
    "bernoulli": lambda a: 1 / (1 + torch.exp(-a)),
    "binary": lambda a: torch.where(a > 0, 1.0, 0.0).to(a.dtype),
}
if assumption not in readings:
    raise ValueError(f"no assumption called {assumption!r}; the assumptions are {', '.join(ASSUMPTIONS)}")
return readings[assumption](logits)""",
    },
    mistakes={
        "binary: threshold 0.5 on the logit": intensities("(logits > 0)", "(logits > 0.5)"),
        "binary: 1 at a logit of 0": intensities("(logits > 0)", "(logits >= 0)"),
        "binary: booleans": intensities("(logits > 0).to(logits.dtype)", "logits > 0"),
        "binary: always float32": hidden(intensities("(logits > 0).to(logits.dtype)", "(logits > 0).float()")),
        "truncated: a sigmoid": intensities("logits.clamp(0, 1)", "torch.sigmoid(logits)"),
        "gauss: the logits themselves": intensities("logits.clone()", "logits"),
        "bernoulli: in place": intensities("torch.sigmoid(logits)", "logits.sigmoid_()"),
        "no error for an unknown assumption": intensities("raise ValueError(", "return logits  # ("),
    },
    reuse={
        "the course's to_intensities": intensities(
            'if assumption == "gauss":\n    return logits.clone()\n',
            "from course_utils.models import to_intensities as reference\nreturn reference(logits, assumption)\n",
        ),
    },
)  # fmt: skip

# Every combination that the grid's reading calls consistent passes; the others fail.
AGREE = Task(
    tests={"ch4-agree-tests": 3},
    then=("ch4-agree-train",),
    alternatives={
        "standardised, gauss (the grid's best)": choice(STANDARDISED, BACK, 'chosen_assumption = "gauss"'),
        "standardised, gauss, undone with mul and add": choice(STANDARDISED, "intensities.mul(std).add(mean)", 'chosen_assumption = "gauss"'),
        "[0, 1], gauss": choice(IDENTITY, "intensities", 'chosen_assumption = "gauss"'),
        "[0, 1], truncated": choice("images * 1.0", "intensities.clone()", 'chosen_assumption = "truncated"'),
        "binarised, binary": choice(BINARISED, "intensities", 'chosen_assumption = "binary"'),
        "binarised, bernoulli": choice("torch.where(images > 0.5, 1.0, 0.0)", "intensities", 'chosen_assumption = "bernoulli"'),
    },
    mistakes={
        "standardised targets, sigmoid output": choice(STANDARDISED, BACK, 'chosen_assumption = "bernoulli"'),
        "standardised targets, clipped Gaussian": choice(STANDARDISED, BACK, 'chosen_assumption = "truncated"'),
        "grey targets, binary assumption": choice(IDENTITY, "intensities", 'chosen_assumption = "binary"'),
        "standardised, not undone": choice(STANDARDISED, "intensities", 'chosen_assumption = "gauss"'),
        "standardised with each batch's own statistics": choice("(images - images.mean()) / images.std()", BACK, 'chosen_assumption = "gauss"'),
        "binarising in place": choice("images.gt_(0.5)", "intensities", 'chosen_assumption = "binary"'),
        "an assumption that does not exist": choice(IDENTITY, "intensities", 'chosen_assumption = "gaussian"'),
        "no assumption chosen": choice(IDENTITY, "intensities", "pass"),
        "targets that lost the picture": choice("torch.zeros_like(images)", "intensities", 'chosen_assumption = "bernoulli"'),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "04_auto_encoding",
    {"ch4-losses": LOSSES, "ch4-intensities": TO_INTENSITIES, "ch4-agree": AGREE},
    start="ch4-agree",
    setup="_clean_test_x = test_x.clone()",  # an in-place mistake must not spoil the others
    reset="test_x.copy_(_clean_test_x)",
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests


def test_sweep_compares_with_exact_pca(chapter):
    """PCA's errors in the code-size sweep are those of the exact principal directions (an SVD)."""
    printed = chapter.kernel.run(
        """
_, _, _vt = torch.linalg.svd((flat - centre).double(), full_matrices=False)
for _size in CODE_SIZES:
    _basis = _vt[:_size].T.float()
    _rebuilt = ((test_flat - centre) @ _basis @ _basis.T + centre).clamp(0, 1)
    print(_size, pca[_size], F.mse_loss(_rebuilt, test_flat).item())
"""
    )
    for line in printed.splitlines():
        size, chapter_value, truth = line.split()
        assert float(chapter_value) == pytest.approx(float(truth), rel=1e-3), (
            f"PCA with {size} components: the chapter has {chapter_value}, an SVD gives {truth}"
        )
    assert len(printed.splitlines()) == 6, printed
