"""Chapter 4's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, and fails the mistakes students make (in its
visible part, or only in the hidden one) and the library's own losses. The standardised targets are
judged by the chapter's short training run, so each answer there is trained."""

import pytest
from exercises import Exercise, Mistake, Task, block, hidden

pytestmark = pytest.mark.slow

CENSORED = """
inside = 0.5 * ((targets - logits) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
at_zero = -torch.special.log_ndtr(-logits / sigma)
at_one = -torch.special.log_ndtr((logits - 1) / sigma)
nll = torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside))
return nll.mean()
"""
FLOOR = """
if assumption not in ASSUMPTIONS:
    raise ValueError(f"unknown assumption {assumption!r}: choose one of {ASSUMPTIONS}")
if assumption == "gauss":
    nearest = targets
elif assumption == "binary":
    nearest = (targets > 0.5).to(targets.dtype)
else:
    nearest = targets.clamp(0, 1)
return ((targets - nearest) ** 2).mean()
"""
STANDARDISATION = """
mean, std = images.mean(), images.std()

def transform(x):
    return (x - mean) / std

def back(y):
    return y * std + mean

return transform, back
"""
GAUSS = 'chosen_assumption = "gauss"'


def floor(old, new):
    """``FLOOR`` with ``old`` written as ``new``."""
    assert old in FLOOR, f"the answer changed: {old!r} is no longer in it"
    return FLOOR.replace(old, new)


def standardised(old, new):
    """The instructor's standardisation with ``old`` written as ``new``, and the Gaussian."""
    assert old in STANDARDISATION, old
    return [STANDARDISATION.replace(old, new), GAUSS]


LOSSES = Task(
    tests={"ch4-losses-tests": 3},
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
        "gauss: half the squared error": Mistake(block(0, "return ((targets - logits) ** 2).mean() / 2"), match="gauss_loss is .*not the mean squared error"),
        "gauss: summed over pixels": Mistake(block(0, "return ((targets - logits) ** 2).sum()"), match="gauss_loss is .*not the mean squared error"),
        "censored: no constant": Mistake(block(1, CENSORED.replace(" + math.log(sigma) + 0.5 * math.log(2 * math.pi)", "")), match="censored_loss is .*log σ"),
        "censored: the density at 0 and 1 too (no clipping)": Mistake(block(1, "return -torch.distributions.Normal(logits, sigma).log_prob(targets).mean()"), match="censored_loss is .*log σ"),
        "censored: log of the cdf (infinite far from [0, 1])": Mistake(block(1, """
normal = torch.distributions.Normal(logits, sigma)
inside = -normal.log_prob(targets)
at_zero = -normal.cdf(torch.zeros_like(targets)).log()
at_one = -(1 - normal.cdf(torch.ones_like(targets))).log()
return torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside)).mean()"""), match="censored_loss is inf"),
        "censored: Φ(a/σ) at 0, the wrong tail": Mistake(block(1, CENSORED.replace("log_ndtr(-logits / sigma)", "log_ndtr(logits / sigma)")), match="censored_loss is .*log σ"),
        "censored: σ fixed at 0.1": hidden(block(1, CENSORED.replace("sigma", "0.1")), match="use the sigma argument"),
        "bernoulli: log of the sigmoid (infinite for large logits)": Mistake(block(2, "p = torch.sigmoid(logits)\nreturn -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()"), match="logits ±100 is nan"),
        "bernoulli: squared error on the sigmoid": Mistake(block(2, "return ((torch.sigmoid(logits) - targets) ** 2).mean()"), match="not the mean binary cross-entropy"),
        "bernoulli: summed over pixels": Mistake(block(2, "return F.binary_cross_entropy_with_logits(logits, targets, reduction='sum')"), match="not the mean binary cross-entropy"),
    },
    reuse={
        "censored: the course's loss": block(1, "return loss_for('censored')(logits, targets)"),
        "bernoulli: the course's loss": block(2, "return loss_for('bernoulli')(logits, targets)"),
    },
)  # fmt: skip

MSE_FLOOR = Task(
    tests={"ch4-floor-tests": 3},
    alternatives={
        "a table of nearest values, and F.mse_loss": """
nearest = {
    "gauss": lambda y: y,
    "censored": lambda y: torch.clamp(y, min=0.0, max=1.0),
    "bernoulli": lambda y: y.clamp(0, 1),
    "binary": lambda y: torch.round(y).clamp(0, 1),  # 0.5 is as far from 0 as from 1
}
if assumption not in nearest:
    raise ValueError(f"no assumption called {assumption!r}; the assumptions are {', '.join(ASSUMPTIONS)}")
return F.mse_loss(nearest[assumption](targets), targets).item()""",
        "the binary floor as the smaller of two errors": floor(
            'elif assumption == "binary":\n    nearest = (targets > 0.5).to(targets.dtype)',
            'elif assumption == "binary":\n    return torch.minimum(targets**2, (targets - 1) ** 2).mean()',
        ),
        "the censored and Bernoulli floors from the parts outside [0, 1]": floor(
            "    nearest = targets.clamp(0, 1)",
            "    return (torch.relu(-targets) ** 2 + torch.relu(targets - 1) ** 2).mean().item()",
        ),
    },
    mistakes={
        "bernoulli: no floor, since a logit can be any number": Mistake(floor('if assumption == "gauss":', 'if assumption in ("gauss", "bernoulli"):'), match="mse_floor\\(targets, 'bernoulli'\\) is 0.00000"),
        "binary: the threshold at 0, not 0.5": Mistake(floor("(targets > 0.5)", "(targets > 0)"), match="mse_floor\\(targets, 'binary'\\) is"),
        "censored: clipped below only": Mistake(floor("targets.clamp(0, 1)", "targets.clamp(min=0)"), match="mse_floor\\(targets, 'censored'\\) is"),
        "summed over pixels": Mistake(floor("((targets - nearest) ** 2).mean()", "((targets - nearest) ** 2).sum()"), match="mse_floor\\(targets, 'censored'\\) is"),
        "the mean error, not the mean squared error": Mistake(floor("((targets - nearest) ** 2).mean()", "(targets - nearest).abs().mean()"), match="mse_floor\\(targets, 'censored'\\) is"),
        "clipped in place": Mistake(floor("nearest = targets.clamp(0, 1)", "nearest = targets.clamp_(0, 1)"), match="changed the targets in place"),
        "no error for an unknown assumption": Mistake(floor("raise ValueError(", "return 0.0  # ("), match="should raise a ValueError"),
    },
    reuse={
        "the course's loss for the squared error": floor("return ((targets - nearest) ** 2).mean()", "return loss_for('gauss')(nearest, targets)"),
    },
)  # fmt: skip

STANDARDISED = Task(
    tests={"ch4-standardised-tests": 4},
    then=("ch4-standardised-train",),
    alternatives={
        "std_mean in double precision, lambdas": ["""
std, mean = torch.std_mean(images.double(), unbiased=False)
mean, std = mean.item(), std.item()
return (lambda x: (x - mean) / std), (lambda y: mean + std * y)""", GAUSS],
        "a class with the statistics as attributes": ["""
class Standardiser:
    def __init__(self, pixels):
        self.mean, self.std = pixels.mean().item(), pixels.std().item()

    def forward(self, x):
        return (x - self.mean) / self.std

    def inverse(self, y):
        return y * self.std + self.mean

s = Standardiser(images)
return s.forward, s.inverse""", GAUSS],
    },
    mistakes={
        "a sigmoid (bernoulli) on standardised targets": Mistake(block(1, 'chosen_assumption = "bernoulli"'), match="intensities of 'bernoulli' cannot reach"),
        "the censored Gaussian on standardised targets": Mistake(block(1, 'chosen_assumption = "censored"'), match="intensities of 'censored' cannot reach"),
        "not undone": Mistake(standardised("return y * std + mean", "return y"), match="back\\(transform\\(x\\)\\) differs"),
        "undone with mean and std swapped": Mistake(standardised("y * std + mean", "y * mean + std"), match="back\\(transform\\(x\\)\\) differs"),
        "each batch's own statistics": Mistake(standardised("return (x - mean) / std", "return (x - x.mean()) / x.std()"), match="a black image gets targets that differ"),
        "one mean and deviation per pixel position": Mistake(standardised("images.mean(), images.std()", "images.mean(0), images.std(0)"), match="not all finite"),
        "divided by the variance": Mistake(standardised("images.std()", "images.var()"), match="not 0 and 1"),
        "the statistics of all training pixels, not of the images given": Mistake(standardised("images.mean(), images.std()", "pixels.mean(), pixels.std()"), match="not 0 and 1"),
        "the statistics typed in": Mistake(standardised("images.mean(), images.std()", "0.2860, 0.3530"), match="not 0 and 1"),
        "standardised in place": Mistake(standardised("return (x - mean) / std", "return x.sub_(mean).div_(std)"), match="changed its batch in place"),
        "no assumption chosen": Mistake(block(1, "pass"), match="not None"),
        "an assumption that does not exist": Mistake(block(1, 'chosen_assumption = "gaussian"'), match="not 'gaussian'"),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "04_auto_encoding",
    {"ch4-losses": LOSSES, "ch4-floor": MSE_FLOOR, "ch4-standardised": STANDARDISED},
    start="ch4-standardised",  # test_x is made just before it
    setup="_clean_test_x = test_x.clone()",  # an in-place mistake must not spoil the others
    reset="test_x.copy_(_clean_test_x)",
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests


def test_the_solution_reaches_the_error_the_text_asks_for(chapter):
    chapter.reach("ch4-standardised")
    for cell in ("ch4-standardised", "ch4-standardised-train"):
        chapter.run_cell(cell)
    error, limit = map(float, chapter.kernel.run("print(exercise_error, JUDGED_ERROR)").split())
    assert error < 0.9 * limit, f"the solution reaches {error:.4f}, too close to the limit {limit}"


def test_sweep_compares_with_exact_pca(chapter):
    """PCA's errors in the code-size sweep are those of the exact principal directions (an SVD)."""
    chapter.reach("ch4-standardised-tests")
    cells = chapter.kernel.code_cells
    stop = next(i for i, c in enumerate(cells) if "pca[size] = " in c.source)
    for cell in cells[chapter.position : stop + 1]:
        chapter.kernel.run(cell.source)
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
