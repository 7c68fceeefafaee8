"""Chapter 4's exercises: each test cell passes the solution and correct answers written
differently, and fails the mistakes students make (in its visible part, or only in the hidden one).
"""

import pytest
from kernel import HIDDEN, CellFailed, ChapterKernel, with_answers

pytestmark = pytest.mark.slow

TASKS = {  # solution cell: its test cell
    "ch4-losses": "ch4-losses-tests",
    "ch4-floor": "ch4-floor-tests",
    "ch4-standardised": "ch4-standardised-tests",
}
TRAIN_ID = "ch4-standardised-train"

# One correct answer, written differently from the instructor's, for every solution cell (a list:
# one body per solution block). The lead autogrades them together as one submission.
ALTERNATIVES = {
    "ch4-losses": [
        "return F.mse_loss(logits, targets)",
        """
normal = torch.distributions.Normal(logits, sigma)
below = -torch.special.log_ndtr((0 - logits) / sigma)
above = -torch.special.log_ndtr((logits - 1) / sigma)
nll = -normal.log_prob(targets)
nll = torch.where(targets <= 0, below, nll)
nll = torch.where(targets >= 1, above, nll)
return nll.mean()
""",
        "return F.binary_cross_entropy_with_logits(logits, targets)",
    ],
    "ch4-floor": """
nearest = {
    "gauss": lambda y: y,
    "censored": lambda y: torch.clamp(y, min=0.0, max=1.0),
    "bernoulli": lambda y: y.clamp(0, 1),
    "binary": lambda y: torch.round(y).clamp(0, 1),  # 0.5 is as far from 0 as from 1
}
if assumption not in nearest:
    raise ValueError(f"no assumption called {assumption!r}; the assumptions are {', '.join(ASSUMPTIONS)}")
return F.mse_loss(nearest[assumption](targets), targets).item()
""",
    "ch4-standardised": [
        """
std, mean = torch.std_mean(images.double(), unbiased=False)
mean, std = mean.item(), std.item()
return (lambda x: (x - mean) / std), (lambda y: mean + std * y)
""",
        'chosen_assumption = "gauss"',
    ],
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("04_auto_encoding") as kernel:
        kernel.run_before("ch4-standardised")
        kernel.run("_clean_test_x = test_x.clone()")  # an in-place mistake must not spoil others
        yield kernel


def define(kernel, grade, bodies):
    """Run solution cell ``grade`` with its blocks replaced by ``bodies`` (a string or a list)."""
    kernel.run(with_answers(kernel.cell(grade), bodies))


@pytest.fixture
def solved(chapter):
    """The chapter with clean data and every instructor solution defined again after the test."""
    yield chapter
    chapter.run("test_x.copy_(_clean_test_x)")
    for grade in TASKS:
        chapter.run_cell(grade)


def check(kernel, tests, mistake, visible):
    """Test cell ``tests`` fails the answer just defined: its visible part too, or only hidden."""
    kernel.assert_fails(tests, mistake, visible)
    if not visible:
        assert not kernel.visible_fails(tests), f"the visible part of {tests} catches {mistake}"


def test_solutions_pass_their_tests(chapter):
    for grade, tests in TASKS.items():
        chapter.run_cell(grade)
        if grade == "ch4-standardised":
            chapter.run_cell(TRAIN_ID)
        assert "All tests passed." in chapter.run_cell(tests), tests


def test_test_cells_have_hidden_tests(chapter):
    for tests in TASKS.values():
        assert HIDDEN.search(chapter.cell(tests)), tests


def test_alternatives_pass_with_hidden_tests(solved):
    for grade, tests in TASKS.items():
        define(solved, grade, ALTERNATIVES[grade])
        if grade == "ch4-standardised":
            solved.run_cell(TRAIN_ID)
        solved.assert_passes(tests, f"ALTERNATIVES[{grade!r}]")


# ------------------------------------------------------------------------- the losses

CENSORED = """
inside = 0.5 * ((targets - logits) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
at_zero = -torch.special.log_ndtr(-logits / sigma)
at_one = -torch.special.log_ndtr((logits - 1) / sigma)
nll = torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside))
return nll.mean()
"""
LOSS_MISTAKES = {  # name: (block: 0 gauss, 1 censored, 2 bernoulli; body; visible)
    "gauss: half the squared error": (0, "return ((targets - logits) ** 2).mean() / 2", True),
    "gauss: summed over pixels": (0, "return ((targets - logits) ** 2).sum()", True),
    "censored: no constant": (
        1,
        CENSORED.replace(" + math.log(sigma) + 0.5 * math.log(2 * math.pi)", ""),
        True,
    ),
    "censored: the density at 0 and 1 too (no clipping)": (
        1,
        "return -torch.distributions.Normal(logits, sigma).log_prob(targets).mean()",
        True,
    ),
    "censored: log of the cdf (infinite far from [0, 1])": (
        1,
        """
normal = torch.distributions.Normal(logits, sigma)
inside = -normal.log_prob(targets)
at_zero = -normal.cdf(torch.zeros_like(targets)).log()
at_one = -(1 - normal.cdf(torch.ones_like(targets))).log()
return torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside)).mean()
""",
        True,
    ),
    "censored: Φ(a/σ) at 0, the wrong tail": (
        1,
        CENSORED.replace("log_ndtr(-logits / sigma)", "log_ndtr(logits / sigma)"),
        True,
    ),
    "censored: σ fixed at 0.1": (1, CENSORED.replace("sigma", "0.1"), False),
    "censored: the course's loss": (1, "return loss_for('censored')(logits, targets)", True),
    "bernoulli: log of the sigmoid (infinite for large logits)": (
        2,
        "p = torch.sigmoid(logits)\n"
        "return -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p)).mean()",
        True,
    ),
    "bernoulli: squared error on the sigmoid": (
        2,
        "return ((torch.sigmoid(logits) - targets) ** 2).mean()",
        True,
    ),
    "bernoulli: summed over pixels": (
        2,
        "return F.binary_cross_entropy_with_logits(logits, targets, reduction='sum')",
        True,
    ),
    "bernoulli: the course's loss": (2, "return loss_for('bernoulli')(logits, targets)", True),
}


@pytest.mark.parametrize("name", LOSS_MISTAKES)
def test_loss_tests_catch_the_mistake(solved, name):
    block, body, visible = LOSS_MISTAKES[name]
    solved.answer("ch4-losses", body, block)
    check(solved, "ch4-losses-tests", name, visible)


# ------------------------------------------------------------------------- the floor

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
FLOOR_ALTERNATIVES = {
    "a table of nearest values, and F.mse_loss": ALTERNATIVES["ch4-floor"],
    "the binary floor as the smaller of two errors": FLOOR.replace(
        'elif assumption == "binary":\n    nearest = (targets > 0.5).to(targets.dtype)',
        'elif assumption == "binary":\n    return torch.minimum(targets**2, (targets - 1) ** 2).mean()',
    ),
    "the censored and Bernoulli floors from the parts outside [0, 1]": FLOOR.replace(
        "    nearest = targets.clamp(0, 1)",
        "    return (torch.relu(-targets) ** 2 + torch.relu(targets - 1) ** 2).mean().item()",
    ),
}
# name: (text of the solution, what a student wrote instead, caught by the visible tests)
FLOOR_MISTAKES = {
    "bernoulli: no floor, since a logit can be any number": (
        'if assumption == "gauss":',
        'if assumption in ("gauss", "bernoulli"):',
        True,
    ),
    "binary: the threshold at 0, not 0.5": ("(targets > 0.5)", "(targets > 0)", True),
    "censored: clipped below only": ("targets.clamp(0, 1)", "targets.clamp(min=0)", True),
    "summed over pixels": ("((targets - nearest) ** 2).mean()", "((targets - nearest) ** 2).sum()", True),
    "the mean error, not the mean squared error": (
        "((targets - nearest) ** 2).mean()", "(targets - nearest).abs().mean()", True,
    ),
    "clipped in place": ("nearest = targets.clamp(0, 1)", "nearest = targets.clamp_(0, 1)", True),
    "no error for an unknown assumption": ("raise ValueError(", "return 0.0  # (", True),
    "the course's loss for the squared error": (
        "return ((targets - nearest) ** 2).mean()", "return loss_for('gauss')(nearest, targets)", True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", FLOOR_ALTERNATIVES)
def test_floor_tests_pass_an_answer_written_differently(solved, name):
    solved.answer("ch4-floor", FLOOR_ALTERNATIVES[name])
    solved.assert_passes("ch4-floor-tests", name)


@pytest.mark.parametrize("name", FLOOR_MISTAKES)
def test_floor_tests_catch_the_mistake(solved, name):
    old, new, visible = FLOOR_MISTAKES[name]
    assert old in FLOOR, f"the answer changed: {old!r} is no longer in it"
    solved.answer("ch4-floor", FLOOR.replace(old, new))
    check(solved, "ch4-floor-tests", name, visible)


def test_floor_tests_name_the_course_when_it_is_reused(solved):
    old, new, _ = FLOOR_MISTAKES["the course's loss for the squared error"]
    solved.answer("ch4-floor", FLOOR.replace(old, new))
    with pytest.raises(AssertionError, match="course_utils"):
        solved.run_cell("ch4-floor-tests")


# ------------------------------------------------------------------------- standardised targets

STANDARDISATION = """
mean, std = images.mean(), images.std()

def transform(x):
    return (x - mean) / std

def back(y):
    return y * std + mean

return transform, back
"""
GAUSS = 'chosen_assumption = "gauss"'


def choose(kernel, body, assumption=GAUSS):
    """Define a student's standardisation and assumption, and train them with the chapter's cell."""
    kernel.run("exercise = reconstructions = exercise_error = None")
    define(kernel, "ch4-standardised", [body, assumption])
    try:
        kernel.run_cell(TRAIN_ID)
    except CellFailed:  # e.g. an unknown assumption: the student sees the error there
        pass


STANDARDISED_ALTERNATIVES = {  # name: (standardisation, assumption)
    "std_mean in double precision, lambdas": (ALTERNATIVES["ch4-standardised"][0], GAUSS),
    "a class with the statistics as attributes": (
        """
class Standardiser:
    def __init__(self, pixels):
        self.mean, self.std = pixels.mean().item(), pixels.std().item()

    def forward(self, x):
        return (x - self.mean) / self.std

    def inverse(self, y):
        return y * self.std + self.mean

s = Standardiser(images)
return s.forward, s.inverse
""",
        GAUSS,
    ),
}
STANDARDISED_MISTAKES = {  # name: (what a student wrote instead of the solution, assumption, visible)
    "a sigmoid (bernoulli) on standardised targets": (STANDARDISATION, 'chosen_assumption = "bernoulli"', True),
    "the censored Gaussian on standardised targets": (STANDARDISATION, 'chosen_assumption = "censored"', True),
    "not undone": (STANDARDISATION.replace("return y * std + mean", "return y"), GAUSS, True),
    "undone with mean and std swapped": (STANDARDISATION.replace("y * std + mean", "y * mean + std"), GAUSS, True),
    "each batch's own statistics": (
        STANDARDISATION.replace("return (x - mean) / std", "return (x - x.mean()) / x.std()"), GAUSS, True,
    ),
    "one mean and deviation per pixel position": (
        STANDARDISATION.replace("images.mean(), images.std()", "images.mean(0), images.std(0)"), GAUSS, True,
    ),
    "divided by the variance": (STANDARDISATION.replace("images.std()", "images.var()"), GAUSS, True),
    "the statistics of all training pixels, not of the images given": (
        STANDARDISATION.replace("images.mean(), images.std()", "pixels.mean(), pixels.std()"), GAUSS, True,
    ),
    "the statistics typed in": (
        STANDARDISATION.replace("images.mean(), images.std()", "0.2860, 0.3530"), GAUSS, True,
    ),
    "standardised in place": (
        STANDARDISATION.replace("return (x - mean) / std", "return x.sub_(mean).div_(std)"), GAUSS, True,
    ),
    "no assumption chosen": (STANDARDISATION, "pass", True),
    "an assumption that does not exist": (STANDARDISATION, 'chosen_assumption = "gaussian"', True),
}  # fmt: skip


def test_the_solution_reaches_the_error_the_text_asks_for(solved):
    choose(solved, STANDARDISATION)
    error, limit = (float(x) for x in solved.run("print(exercise_error, JUDGED_ERROR)").split())
    assert error < 0.9 * limit, f"the solution reaches {error:.4f}, too close to the limit {limit}"


@pytest.mark.parametrize("name", STANDARDISED_ALTERNATIVES)
def test_standardised_tests_pass_an_answer_written_differently(solved, name):
    choose(solved, *STANDARDISED_ALTERNATIVES[name])
    solved.assert_passes("ch4-standardised-tests", name)


@pytest.mark.parametrize("name", STANDARDISED_MISTAKES)
def test_standardised_tests_catch_the_mistake(solved, name):
    body, assumption, visible = STANDARDISED_MISTAKES[name]
    restore = "test_x.copy_(_clean_test_x)"
    choose(solved, body, assumption)
    solved.run(restore)
    assert solved.fails("ch4-standardised-tests"), f"the tests pass {name}"
    solved.run(restore)
    assert solved.visible_fails("ch4-standardised-tests") == visible, (
        f"the visible tests and {name}"
    )


# ------------------------------------------------------------------------- the rest of the chapter


def run_up_to(kernel, text):
    """Run the chapter's code cells after the last exercise, up to the one that holds ``text``."""
    cells = kernel.code_cells
    start = next(
        i for i, c in enumerate(cells) if c.source == kernel.cell(TASKS["ch4-standardised"])
    )
    for cell in cells[start + 1 :]:
        kernel.run(cell.source)
        if text in cell.source:
            return
    raise KeyError(f"no code cell holds {text!r}")


def test_sweep_compares_with_exact_pca(chapter):
    """PCA's errors in the code-size sweep are those of the exact principal directions (an SVD)."""
    run_up_to(chapter, "pca[size] = ")
    printed = chapter.run(
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
