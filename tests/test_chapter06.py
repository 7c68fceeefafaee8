"""Chapter 6's exercises: each test cell passes the solution, fails the usual mistakes (named), and
passes a correct answer written differently, hidden tests included, in grading (fast) mode.

The rate controller's outcome test trains a VAE under the student's controller for real (two
epochs on 2,000 images, even in fast mode), so the wrong controllers below are judged by the rate
training reached as well as by the rule's visible tests.
"""

import re

import pytest
from kernel import HIDDEN, ChapterKernel, grade_id

pytestmark = pytest.mark.slow

LOSS = "ch6-regularised-loss"
LOSS_TESTS = "ch6-regularised-loss-tests"
VERDICT = "ch6-dominating-part"
VERDICT_TESTS = "ch6-dominating-part-tests"
CONTROLLER = "ch6-controller"
RULE_TESTS = "ch6-controller-tests"
OUTCOME_TESTS = "ch6-controller-outcome-tests"
SOLUTIONS = {LOSS: LOSS_TESTS, VERDICT: VERDICT_TESTS, CONTROLLER: RULE_TESTS}


#: One correct alternative per solution cell.
ALTERNATIVES = {
    LOSS: """
prediction, params = output
parts = {"reconstruction": self.reconstruction(prediction, target)}
parts["regularisation"] = self.regulariser(params)
parts["loss"] = parts["reconstruction"] + self.weight * parts["regularisation"]
return parts
""",
    VERDICT: """
collapsed = kl < 2
costs_too_much = 2 * kl > mean_image - reconstruction
return "regularisation" if collapsed else ("reconstruction" if costs_too_much else None)
""",
    CONTROLLER: """
import math

gap = float(parts["regularisation"]) - self.target
self.loss.weight *= math.exp(self.step * gap)  # GECO's multiplicative update: never negative
""",
}

LOSS_MISTAKES = {
    "the regularisation reported weighted": """
prediction, params = output
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
regularisation = self.weight * regularisation
return {"loss": reconstruction + regularisation, "reconstruction": reconstruction, "regularisation": regularisation}
""",
    "the weight on the reconstruction": """
prediction, params = output
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
total = self.weight * reconstruction + regularisation
return {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}
""",
    "only the total": """
prediction, params = output
return self.reconstruction(prediction, target) + self.weight * self.regulariser(params)
""",
    "parts as numbers (.item())": """
prediction, params = output
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
total = reconstruction + self.weight * regularisation
return {"loss": total, "reconstruction": reconstruction.item(), "regularisation": regularisation.item()}
""",
    "a detached total": """
prediction, params = output
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
total = (reconstruction + self.weight * regularisation).detach()
return {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}
""",
    "the regularisation detached from the total": """
prediction, params = output
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
total = reconstruction + self.weight * regularisation.detach()
return {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}
""",
    "the hacky cache: the first batch's regularisation kept": """
prediction, params = output
if not hasattr(self, "cache"):
    self.cache = self.regulariser(params)
reconstruction = self.reconstruction(prediction, target)
total = reconstruction + self.weight * self.cache
return {"loss": total, "reconstruction": reconstruction, "regularisation": self.cache}
""",
    "the weight read once, at the first call": """
prediction, params = output
self.__dict__.setdefault("first_weight", self.weight)
reconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)
total = reconstruction + self.first_weight * regularisation
return {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}
""",
}
#: mistakes that only the hidden tests see: the library's reference does the work
LOSS_BORROWED = {
    "calling the reference": """
from course_utils.losses import RegularisedLoss as Reference
return Reference(self.reconstruction, self.regulariser, self.weight)(output, target)
""",
}
CLASS_BORROWED = {
    "subclassing the reference": (
        "from course_utils import losses\n\n\n"
        "class RegularisedLoss(losses.RegularisedLoss):\n    pass\n"
    ),
    "subclassing the reference, with an own __call__": None,  # built from the solution below
    "aliasing the reference's __call__": None,
}

VERDICT_MISTAKES = {
    "the checks the other way round": (
        """
if kl > (mean_image - reconstruction) / 2:
    return "reconstruction"
if kl < 2:
    return "regularisation"
return None
""",
        True,
    ),
    "without the half": (
        """
if kl < 2:
    return "regularisation"
if kl > mean_image - reconstruction:
    return "reconstruction"
return None
""",
        True,
    ),
    "half of the distortion, not of what the code saves": (
        """
if kl < 2:
    return "regularisation"
if kl > reconstruction / 2:
    return "reconstruction"
return None
""",
        True,
    ),
    "'balanced' instead of None": (
        """
if kl < 2:
    return "regularisation"
if kl > (mean_image - reconstruction) / 2:
    return "reconstruction"
return "balanced"
""",
        True,
    ),
    "the chapter's D0 whatever mean_image says": (
        """
if kl < 2:
    return "regularisation"
if kl > (mean_image_nats - reconstruction) / 2:
    return "reconstruction"
return None
""",
        True,
    ),
    "R <= 2 for the regularisation": (
        """
if kl <= 2:
    return "regularisation"
if kl > (mean_image - reconstruction) / 2:
    return "reconstruction"
return None
""",
        False,
    ),
    "R >= half for the reconstruction": (
        """
if kl < 2:
    return "regularisation"
if kl >= (mean_image - reconstruction) / 2:
    return "reconstruction"
return None
""",
        False,
    ),
}

#: wrong controllers -> (fails the visible rule tests, fails the trained outcome too; None: not
#: trained). Two epochs of 2,000 images are too short for a wrong sign or an ignored target to run
#: away (both ended between half and twice the target when tried): the update's tests catch them,
#: while a constant weight (weight 1 leaves the rate near 12 nats) fails the trained rate as well.
CONTROLLER_MISTAKES = {
    "the target ignored": (  # the weight only grows: in two short epochs it may pass the rate
        "self.loss.weight = max(0.0, self.loss.weight + self.step * parts['regularisation'].item())",
        True,
        None,
    ),
    "the sign flipped": (  # two short epochs end in range too: the update's tests catch it
        "gap = parts['regularisation'].item() - self.target\n"
        "self.loss.weight = max(0.0, self.loss.weight - self.step * gap)",
        True,
        None,
    ),
    "a constant weight": ("pass", True, True),
    "negative weights allowed": (
        "gap = parts['regularisation'].item() - self.target\n"
        "self.loss.weight = self.loss.weight + self.step * gap",
        True,
        None,
    ),
    "the weight set to the gap, not moved by it": (
        "gap = parts['regularisation'].item() - self.target\n"
        "self.loss.weight = max(0.0, self.step * gap)",
        True,
        None,
    ),
    "the first batch's rate kept": (
        "self.__dict__.setdefault('first_rate', parts['regularisation'].item())\n"
        "gap = self.first_rate - self.target\n"
        "self.loss.weight = max(0.0, self.loss.weight + self.step * gap)",
        False,
        None,
    ),
    "the step ignored": (
        "gap = parts['regularisation'].item() - self.target\n"
        "self.loss.weight = max(0.0, self.loss.weight + 0.1 * gap)",
        False,
        None,
    ),
}


@pytest.fixture(scope="module")
def kernel():
    with ChapterKernel("06_balance") as k:
        k.position = 0
        yield k


def run_until(kernel, grade):
    """Run the chapter's code cells, solutions and tests included, up to the cell ``grade``."""
    cells = kernel.code_cells
    stop = next(i for i, c in enumerate(cells) if grade_id(c) == grade)
    for cell in cells[kernel.position : stop]:
        kernel.run(cell.source)
    kernel.position = max(kernel.position, stop)


def test_solutions_pass_every_test_cell(kernel):
    run_until(kernel, OUTCOME_TESTS)
    for solution, tests in SOLUTIONS.items():
        kernel.run_cell(solution)
        kernel.run_cell(tests)
        assert HIDDEN.search(kernel.cell(tests)), tests
    printed = kernel.run_cell(OUTCOME_TESTS)
    assert "rate reached" in printed


def test_points_add_up_to_ten(kernel):
    """The autograded test cells; the written answers are graded by hand, on top."""
    cells = [
        c
        for c in kernel.notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
    ]
    assert sum(c.metadata.nbgrader.points for c in cells) == 10


def test_alternatives_pass_every_test_cell(kernel):
    run_until(kernel, OUTCOME_TESTS)
    try:
        for solution, body in ALTERNATIVES.items():
            kernel.answer(solution, body)
        for tests in (*SOLUTIONS.values(), OUTCOME_TESTS):
            kernel.assert_passes(tests, "ALTERNATIVES")
    finally:
        for solution in SOLUTIONS:
            kernel.run_cell(solution)


@pytest.mark.parametrize("mistake", LOSS_MISTAKES)
def test_loss_mistake_fails(kernel, mistake):
    run_until(kernel, LOSS)
    kernel.answer(LOSS, LOSS_MISTAKES[mistake])
    try:
        kernel.assert_fails(LOSS_TESTS, mistake, visible=True)
    finally:
        kernel.run_cell(LOSS)


def borrowed_class(kernel, how):
    source = kernel.cell(LOSS)
    solution = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION\n", "", source)
    if how == "subclassing the reference, with an own __call__":
        return "from course_utils import losses\n\n\n" + solution.replace(
            "class RegularisedLoss:", "class RegularisedLoss(losses.RegularisedLoss):"
        )
    if how == "aliasing the reference's __call__":
        call = solution.index("    def __call__")
        return (
            "from course_utils import losses\n\n\n"
            + solution[:call]
            + "    __call__ = losses.RegularisedLoss.__call__\n"
        )
    return CLASS_BORROWED[how]


@pytest.mark.parametrize("how", [*LOSS_BORROWED, *CLASS_BORROWED])
def test_borrowing_the_reference_loss_fails_in_the_hidden_tests(kernel, how):
    run_until(kernel, LOSS)
    if how in LOSS_BORROWED:
        kernel.answer(LOSS, LOSS_BORROWED[how])
    else:
        kernel.run(borrowed_class(kernel, how))
    try:
        kernel.assert_fails(LOSS_TESTS, how, visible=False)
        assert not kernel.visible_fails(LOSS_TESTS), f"the visible tests should pass: {how}"
    finally:
        kernel.run_cell(LOSS)


@pytest.mark.parametrize("mistake", VERDICT_MISTAKES)
def test_verdict_mistake_fails(kernel, mistake):
    run_until(kernel, VERDICT)
    body, visible = VERDICT_MISTAKES[mistake]
    kernel.answer(VERDICT, body)
    try:
        kernel.assert_fails(VERDICT_TESTS, mistake, visible=visible)
    finally:
        kernel.run_cell(VERDICT)


@pytest.mark.parametrize("mistake", CONTROLLER_MISTAKES)
def test_controller_mistake_fails(kernel, mistake):
    run_until(kernel, OUTCOME_TESTS)
    body, visible, trained = CONTROLLER_MISTAKES[mistake]
    kernel.answer(CONTROLLER, body)
    try:
        kernel.assert_fails(RULE_TESTS, mistake, visible=visible)
        if trained:
            assert kernel.fails(OUTCOME_TESTS), f"the trained rate passes the mistake: {mistake}"
    finally:
        kernel.run_cell(CONTROLLER)
