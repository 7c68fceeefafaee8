"""Chapter 6's exercise: its test cells pass on the solution and fail on the usual mistakes.

The weight test runs anywhere. The outcome test judges a model trained on the whole training set,
so in the fast runs used here it is skipped by the notebook itself; these tests open it by
standing in a loader of 60,000 (blank) images and injecting the measurements of a collapsed, an
auto-encoder-like, and a balanced model, and check that the cell tells them apart.
"""

import pytest
from kernel import ChapterKernel, grade_id

pytestmark = pytest.mark.slow

EXERCISE = "ch6-balanced-loss"
WEIGHT_TESTS = "ch6-balanced-weight-tests"
OUTCOME_TESTS = "ch6-balanced-outcome-tests"
LOSS = "balanced_loss = RegularisedLoss(bernoulli_nll, balanced_vae.regularisation, weight=1.0)"
PER_PIXEL = "lambda logits, x: F.binary_cross_entropy_with_logits(logits, x)"
BATCH_SUM = 'lambda logits, x: F.binary_cross_entropy_with_logits(logits, x, reduction="sum")'

#: mistake -> what a student writes instead of the solution's loss
WRONG_WEIGHTS = {
    "per-pixel mean reconstruction, weight 1 (beta 784)": LOSS.replace("bernoulli_nll", PER_PIXEL),
    "reconstruction summed over the batch (beta 1/8 here)": LOSS.replace(
        "bernoulli_nll", BATCH_SUM
    ),
    "no regularisation": LOSS.replace("weight=1.0", "weight=0.0"),
    "tiny weight": LOSS.replace("weight=1.0", "weight=1 / 2048"),
    "huge weight": LOSS.replace("weight=1.0", "weight=100.0"),
}
#: equivalent ways of writing a balanced loss, which must pass
RIGHT_WEIGHTS = {
    "per-pixel mean reconstruction with weight 1/784": LOSS.replace(
        "bernoulli_nll", PER_PIXEL
    ).replace("weight=1.0", "weight=1 / 784"),
    "weight 0.5": LOSS.replace("weight=1.0", "weight=0.5"),
}


@pytest.fixture(scope="module")
def kernel():
    with ChapterKernel("06_balance") as k:
        k.run_before(EXERCISE)
        yield k


def training_cell(kernel):
    """The code cell right after the exercise: it trains ``balanced_vae`` with ``balanced_loss``."""
    cells = kernel.code_cells
    index = next(i for i, c in enumerate(cells) if grade_id(c) == EXERCISE)
    return cells[index + 1].source


def test_solution_passes_both_test_cells(kernel):
    kernel.run_cell(EXERCISE)
    assert "balanced_trainer.fit" in training_cell(kernel)
    kernel.run(training_cell(kernel))
    kernel.run_cell(WEIGHT_TESTS)
    kernel.run_cell(OUTCOME_TESTS)


@pytest.mark.parametrize("mistake", WRONG_WEIGHTS)
def test_wrong_weight_fails(kernel, mistake):
    source = kernel.cell(EXERCISE)
    assert LOSS in source
    kernel.run(source.replace(LOSS, WRONG_WEIGHTS[mistake]))
    assert kernel.fails(WEIGHT_TESTS), f"the weight test passes with: {mistake}"


@pytest.mark.parametrize("variant", RIGHT_WEIGHTS)
def test_equivalent_balanced_loss_passes(kernel, variant):
    kernel.run(kernel.cell(EXERCISE).replace(LOSS, RIGHT_WEIGHTS[variant]))
    kernel.run_cell(WEIGHT_TESTS)


def test_outcome_cell_fails_without_a_model_trained_with_the_loss(kernel):
    kernel.run("_saved_loss = balanced_loss\nbalanced_loss = None")
    try:
        assert kernel.fails(OUTCOME_TESTS), "the outcome cell passes without a trained model"
    finally:
        kernel.run("balanced_loss = _saved_loss")


OUTCOMES = {
    # name: (reconstruction, KL, samples, passes)
    "collapsed": ("mean_image_nats", "0.01", "mean_pixels.expand(64, -1, -1, -1)", False),
    "auto-encoder in disguise": ("mean_image_nats - 120", "200.0", "test_pixels[:64]", False),
    "balanced numbers, identical samples": (
        "mean_image_nats - 100",
        "15.0",
        "mean_pixels.expand(64, -1, -1, -1)",
        False,
    ),
    "balanced": ("mean_image_nats - 100", "15.0", "test_pixels[:64]", True),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_outcome_cell_tells_balanced_from_dominated_models(kernel, outcome):
    reconstruction, kl, samples, passes = OUTCOMES[outcome]
    kernel.run(
        "_saved = full\n"
        "balanced_loss = balanced_trainer.loss\n"
        "full = BatchLoader(AutoEncoding(torch.zeros(60_000, 1, 1, 1)), batch_size=128)\n"
        f"balanced_reconstruction, balanced_kl = {reconstruction}, {kl}\n"
        f"balanced_samples = {samples}\n"
    )
    try:
        assert kernel.fails(OUTCOME_TESTS) != passes, f"outcome cell misjudges: {outcome}"
    finally:
        kernel.run("full = _saved")
