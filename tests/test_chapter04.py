"""Chapter 4's exercise: its test cell passes consistent choices and fails inconsistent ones."""

import pytest
from kernel import HIDDEN, CellFailed, ChapterKernel

pytestmark = pytest.mark.slow

SOLUTION_ID, TRAIN_ID, TESTS_ID = "ch4-agree", "ch4-agree-train", "ch4-agree-tests"


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("04_auto_encoding") as kernel:
        kernel.run_before(SOLUTION_ID)
        yield kernel


def choose(kernel, transform, assumption, loss):
    """Define a student's answer and train it with the chapter's (read-only) cell."""
    kernel.run(
        "exercise = reconstructions = None\n"
        f"def target_transform(images):\n    return {transform}\n\n"
        f"assumption = {assumption!r}\n\n"
        f"def loss(logits, targets):\n    return {loss}\n"
    )
    try:
        kernel.run_cell(TRAIN_ID)
    except CellFailed:  # e.g. an unknown assumption: the student sees the error there
        pass


def test_solution_passes_its_tests(chapter):
    chapter.run_cell(SOLUTION_ID)
    chapter.run_cell(TRAIN_ID)
    assert "All tests passed." in chapter.run_cell(TESTS_ID)


def test_test_cell_has_hidden_tests(chapter):
    assert HIDDEN.search(chapter.cell(TESTS_ID))


BCE = "F.binary_cross_entropy_with_logits(logits, targets)"
# other consistent answers pass too
RIGHT = {
    "binarised, binary, BCE": ("(images > 0.5).float()", "binary", BCE),
    "[0, 1], truncated, its likelihood": ("images.clone()", "truncated", "loss_for('truncated')(logits, targets)"),
    "[0, 1], bernoulli, BCE module": ("images * 1.0", "bernoulli", "torch.nn.BCEWithLogitsLoss()(logits, targets)"),
}  # fmt: skip


@pytest.mark.parametrize("name", RIGHT)
def test_other_consistent_answers_pass(chapter, name):
    choose(chapter, *RIGHT[name])
    chapter.run_cell(TESTS_ID)


STANDARDISED = "(images - mean) / std"
# name: (transform, assumption, loss, caught by the visible tests)
WRONG = {
    "standardised targets, sigmoid output": (STANDARDISED, "bernoulli", BCE, True),
    "standardised targets, Gaussian (leaves [0, 1])": (
        STANDARDISED, "gauss", "F.mse_loss(logits, targets)", True
    ),
    "Gaussian on [0, 1] (unbounded intensities)": (
        "images.clone()", "gauss", "F.mse_loss(logits, targets)", True
    ),
    "Bernoulli with a squared error": ("images.clone()", "bernoulli", "F.mse_loss(torch.sigmoid(logits), targets)", True),
    "binary assumption on grey targets": ("images.clone()", "binary", BCE, True),
    "truncated assumption with a squared error": ("images.clone()", "truncated", "F.mse_loss(logits, targets)", True),
    "binarising in place": ("images.gt_(0.5)", "binary", BCE, True),
    "an assumption that does not exist": ("images.clone()", "poisson", BCE, True),
    "a summed loss": ("images.clone()", "bernoulli", BCE.replace(")", ", reduction='sum')"), True),
    "targets that lost the picture": ("torch.zeros_like(images)", "bernoulli", BCE, True),
}  # fmt: skip


@pytest.mark.parametrize("name", WRONG)
def test_tests_catch_inconsistent_choices(chapter, name):
    *answer, visible = WRONG[name]
    chapter.run("_clean_test_x = test_x.clone()")  # an in-place mistake must not spoil the others
    restore = "test_x.copy_(_clean_test_x)"
    try:
        choose(chapter, *answer)
        chapter.run(restore)
        assert chapter.fails(TESTS_ID), f"the tests pass {name}"
        chapter.run(restore)
        assert chapter.visible_fails(TESTS_ID) == visible, f"the visible tests and {name}"
    finally:
        chapter.run(restore)
