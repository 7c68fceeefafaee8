"""Chapter 4's exercises: each test cell passes the solution and correct answers written
differently, and fails the mistakes students make (in its visible part, or only in the hidden one).
"""

import pytest
from kernel import HIDDEN, CellFailed, ChapterKernel, with_answers

pytestmark = pytest.mark.slow

TASKS = {  # solution cell: its test cell
    "ch4-losses": "ch4-losses-tests",
    "ch4-intensities": "ch4-intensities-tests",
    "ch4-agree": "ch4-agree-tests",
}
TRAIN_ID = "ch4-agree-train"

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
    "ch4-intensities": """
readings = {
    "gauss": lambda a: a + 0,
    "truncated": lambda a: torch.clamp(a, min=0.0, max=1.0),
    "bernoulli": lambda a: 1 / (1 + torch.exp(-a)),
    "binary": lambda a: torch.where(a > 0, 1.0, 0.0).to(a.dtype),
}
if assumption not in readings:
    raise ValueError(f"no assumption called {assumption!r}; the assumptions are {', '.join(ASSUMPTIONS)}")
return readings[assumption](logits)
""",
    # the grid's best: standardised targets with a Gaussian
    "ch4-agree": [
        "return (images - mean) / std",
        "return intensities * std + mean",
        'chosen_assumption = "gauss"',
    ],
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("04_auto_encoding") as kernel:
        kernel.run_before("ch4-agree")
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
        if grade == "ch4-agree":
            chapter.run_cell(TRAIN_ID)
        assert "All tests passed." in chapter.run_cell(tests), tests


def test_test_cells_have_hidden_tests(chapter):
    for tests in TASKS.values():
        assert HIDDEN.search(chapter.cell(tests)), tests


def test_alternatives_pass_with_hidden_tests(solved):
    for grade, tests in TASKS.items():
        define(solved, grade, ALTERNATIVES[grade])
        if grade == "ch4-agree":
            solved.run_cell(TRAIN_ID)
        solved.assert_passes(tests, f"ALTERNATIVES[{grade!r}]")


def test_sweep_compares_with_exact_pca(chapter):
    """PCA's errors in the code-size sweep are those of the exact principal directions (an SVD)."""
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


# ------------------------------------------------------------------------- the losses

TRUNCATED = """
inside = 0.5 * ((targets - logits) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
at_zero = -torch.special.log_ndtr(-logits / sigma)
at_one = -torch.special.log_ndtr((logits - 1) / sigma)
nll = torch.where(targets <= 0, at_zero, torch.where(targets >= 1, at_one, inside))
return nll.mean()
"""
LOSS_MISTAKES = {  # name: (block: 0 gauss, 1 truncated, 2 bernoulli; body; visible)
    "gauss: half the squared error": (0, "return ((targets - logits) ** 2).mean() / 2", True),
    "gauss: summed over pixels": (0, "return ((targets - logits) ** 2).sum()", True),
    "truncated: no constant": (
        1,
        TRUNCATED.replace(" + math.log(sigma) + 0.5 * math.log(2 * math.pi)", ""),
        True,
    ),
    "truncated: the density at 0 and 1 too (no clipping)": (
        1,
        "return -torch.distributions.Normal(logits, sigma).log_prob(targets).mean()",
        True,
    ),
    "truncated: log of the cdf (infinite far from [0, 1])": (
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
    "truncated: Φ(a/σ) at 0, the wrong tail": (
        1,
        TRUNCATED.replace("log_ndtr(-logits / sigma)", "log_ndtr(logits / sigma)"),
        True,
    ),
    "truncated: σ fixed at 0.1": (1, TRUNCATED.replace("sigma", "0.1"), False),
    "truncated: the course's loss": (1, "return loss_for('truncated')(logits, targets)", True),
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


# ------------------------------------------------------------------------- to_intensities

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
INTENSITY_MISTAKES = {  # name: (text of the solution, what a student wrote instead, visible)
    "binary: threshold 0.5 on the logit": ("(logits > 0)", "(logits > 0.5)", True),
    "binary: 1 at a logit of 0": ("(logits > 0)", "(logits >= 0)", True),
    "binary: booleans": ("(logits > 0).to(logits.dtype)", "logits > 0", True),
    "binary: always float32": ("(logits > 0).to(logits.dtype)", "(logits > 0).float()", False),
    "truncated: a sigmoid": ("logits.clamp(0, 1)", "torch.sigmoid(logits)", True),
    "gauss: the logits themselves": ("logits.clone()", "logits", True),
    "bernoulli: in place": ("torch.sigmoid(logits)", "logits.sigmoid_()", True),
    "no error for an unknown assumption": ("raise ValueError(", "return logits  # (", True),
    "the course's to_intensities": (
        'if assumption == "gauss":\n    return logits.clone()\n',
        "from course_utils.models import to_intensities as reference\n"
        "return reference(logits, assumption)\n",
        True,
    ),
}


@pytest.mark.parametrize("name", INTENSITY_MISTAKES)
def test_intensity_tests_catch_the_mistake(solved, name):
    old, new, visible = INTENSITY_MISTAKES[name]
    assert old in INTENSITIES
    solved.answer("ch4-intensities", INTENSITIES.replace(old, new))
    check(solved, "ch4-intensities-tests", name, visible)


# ------------------------------------------------------------------------- the choice


def choose(kernel, transform, back, assumption):
    """Define a student's choice and train it with the chapter's (read-only) cell."""
    kernel.run("exercise = reconstructions = None")
    define(kernel, "ch4-agree", [f"return {transform}", f"return {back}", assumption])
    try:
        kernel.run_cell(TRAIN_ID)
    except CellFailed:  # e.g. an unknown assumption: the student sees the error there
        pass


STANDARDISED, BACK = "(images - mean) / std", "intensities * std + mean"
IDENTITY, BINARISED = "images.clone()", "(images > 0.5).float()"
# Every combination that the grid's reading calls consistent passes.
RIGHT = {
    "standardised, gauss (the grid's best)": (STANDARDISED, BACK, 'chosen_assumption = "gauss"'),
    "[0, 1], gauss": (IDENTITY, "intensities", 'chosen_assumption = "gauss"'),
    "[0, 1], truncated": ("images * 1.0", "intensities.clone()", 'chosen_assumption = "truncated"'),
    "binarised, binary": (BINARISED, "intensities", 'chosen_assumption = "binary"'),
    "binarised, bernoulli": ("torch.where(images > 0.5, 1.0, 0.0)", "intensities", 'chosen_assumption = "bernoulli"'),
}  # fmt: skip


@pytest.mark.parametrize("name", RIGHT)
def test_every_consistent_choice_passes(solved, name):
    choose(solved, *RIGHT[name])
    solved.assert_passes("ch4-agree-tests", name)


WRONG = {  # name: (transform, back, assumption, caught by the visible tests)
    "standardised targets, sigmoid output": (STANDARDISED, BACK, 'chosen_assumption = "bernoulli"', True),
    "standardised targets, clipped Gaussian": (STANDARDISED, BACK, 'chosen_assumption = "truncated"', True),
    "grey targets, binary assumption": (IDENTITY, "intensities", 'chosen_assumption = "binary"', True),
    "standardised, not undone": (STANDARDISED, "intensities", 'chosen_assumption = "gauss"', True),
    "standardised with each batch's own statistics": (
        "(images - images.mean()) / images.std()", BACK, 'chosen_assumption = "gauss"', True
    ),
    "binarising in place": ("images.gt_(0.5)", "intensities", 'chosen_assumption = "binary"', True),
    "an assumption that does not exist": (IDENTITY, "intensities", 'chosen_assumption = "gaussian"', True),
    "no assumption chosen": (IDENTITY, "intensities", "pass", True),
    "targets that lost the picture": ("torch.zeros_like(images)", "intensities", 'chosen_assumption = "bernoulli"', True),
}  # fmt: skip


@pytest.mark.parametrize("name", WRONG)
def test_tests_catch_inconsistent_choices(solved, name):
    *answer, visible = WRONG[name]
    restore = "test_x.copy_(_clean_test_x)"
    choose(solved, *answer)
    solved.run(restore)
    assert solved.fails("ch4-agree-tests"), f"the tests pass {name}"
    solved.run(restore)
    assert solved.visible_fails("ch4-agree-tests") == visible, f"the visible tests and {name}"
