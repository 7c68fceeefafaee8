"""Chapter 6's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, and fails the usual mistakes (named) and every
way of reusing the course's RegularisedLoss.

The balanced VAE's outcome test trains a VAE with the student's loss for real (two epochs on 5,000
images, even in fast mode), so the wrong weights are judged by what training made of them: once for
each way a weight can go wrong (no KL trained, or the KL crushing the reconstruction), and once for
each correct weight written another way.
"""

import re

import pytest
from exercises import Cell, Edit, Exercise, Mistake, Task, hidden

pytestmark = pytest.mark.slow

LOSS, BALANCED = "ch6-regularised-loss", "ch6-balanced-loss"
WEIGHT_TESTS, OUTCOME_TESTS = "ch6-balanced-weight-tests", "ch6-balanced-outcome-tests"
PER_PIXEL = "lambda logits, x: F.binary_cross_entropy_with_logits(logits, x)"
BATCH_SUM = 'lambda logits, x: F.binary_cross_entropy_with_logits(logits, x, reduction="sum")'
PARTS = "prediction, params = output\nreconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)\n"
PARTS_RETURNED = (
    '\nreturn {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}'
)
IMPORTED = "from course_utils import losses\n\n\n"
VERDICT = 'if kl {below} 2:\n    return "regularisation"\nif kl {above} {saved}:\n    return "reconstruction"\nreturn {otherwise}'


def balanced(reconstruction="bernoulli_nll", weight="1.0"):
    return f"balanced_loss = RegularisedLoss({reconstruction}, balanced_vae.regularisation, weight={weight})"


def verdict(below="<", above=">", saved="(mean_image - reconstruction) / 2", otherwise="None"):
    return VERDICT.format(below=below, above=above, saved=saved, otherwise=otherwise)


REGULARISED_LOSS = Task(
    tests={"ch6-regularised-loss-tests": 3},
    alternatives={
        "RegularisedLoss: a dict filled part by part": """
prediction, params = output
parts = {"reconstruction": self.reconstruction(prediction, target)}
parts["regularisation"] = self.regulariser(params)
parts["loss"] = parts["reconstruction"] + self.weight * parts["regularisation"]
return parts""",
        "RegularisedLoss: the weight on the right": PARTS + "total = reconstruction + regularisation * self.weight" + PARTS_RETURNED,
    },
    mistakes={
        "the regularisation reported weighted": PARTS + "regularisation = self.weight * regularisation\ntotal = reconstruction + regularisation" + PARTS_RETURNED,
        "the weight on the reconstruction": PARTS + "total = self.weight * reconstruction + regularisation" + PARTS_RETURNED,
        "only the total": "prediction, params = output\nreturn self.reconstruction(prediction, target) + self.weight * self.regulariser(params)",
        "parts as numbers (.item())": PARTS + 'total = reconstruction + self.weight * regularisation\nreturn {"loss": total, "reconstruction": reconstruction.item(), "regularisation": regularisation.item()}',
        "a detached total": PARTS + "total = (reconstruction + self.weight * regularisation).detach()" + PARTS_RETURNED,
        "the regularisation detached from the total": PARTS + "total = reconstruction + self.weight * regularisation.detach()" + PARTS_RETURNED,
        "the hacky cache: the first batch's regularisation kept": """
prediction, params = output
if not hasattr(self, "cache"):
    self.cache = self.regulariser(params)
reconstruction = self.reconstruction(prediction, target)
total = reconstruction + self.weight * self.cache
return {"loss": total, "reconstruction": reconstruction, "regularisation": self.cache}""",
        "the weight read once, at the first call": 'prediction, params = output\nself.__dict__.setdefault("first_weight", self.weight)\n'
        + PARTS.split("\n", 1)[1] + "total = reconstruction + self.first_weight * regularisation" + PARTS_RETURNED,
    },
    reuse={  # only the hidden tests see these: the library's reference does the work
        "calling the reference": hidden("from course_utils.losses import RegularisedLoss as Reference\nreturn Reference(self.reconstruction, self.regulariser, self.weight)(output, target)"),
        "subclassing the reference": hidden(Cell(IMPORTED + "class RegularisedLoss(losses.RegularisedLoss):\n    pass\n")),
        "subclassing the reference, with an own __call__": hidden(
            Edit({"class RegularisedLoss:": "class RegularisedLoss(losses.RegularisedLoss):"}, before=IMPORTED)
        ),
        "aliasing the reference's __call__": hidden(
            Edit({re.compile(r"    def __call__.*", re.S): "    __call__ = losses.RegularisedLoss.__call__\n"}, before=IMPORTED)
        ),
    },
)  # fmt: skip

DOMINATING_PART = Task(
    tests={"ch6-dominating-part-tests": 3},
    alternatives={
        "dominating_part: named conditions": """
collapsed = kl < 2
costs_too_much = 2 * kl > mean_image - reconstruction
return "regularisation" if collapsed else ("reconstruction" if costs_too_much else None)""",
        "dominating_part: the excess over half the saving": 'if kl < 2:\n    return "regularisation"\nreturn "reconstruction" if kl - (mean_image - reconstruction) / 2 > 0 else None',
    },
    mistakes={
        "the checks the other way round": 'if kl > (mean_image - reconstruction) / 2:\n    return "reconstruction"\nif kl < 2:\n    return "regularisation"\nreturn None',
        "without the half": verdict(saved="mean_image - reconstruction"),
        "half of the distortion, not of what the code saves": verdict(saved="reconstruction / 2"),
        "'balanced' instead of None": verdict(otherwise='"balanced"'),
        "the chapter's D0 whatever mean_image says": verdict(saved="(mean_image_nats - reconstruction) / 2"),
        "R <= 2 for the regularisation": hidden(verdict(below="<=")),
        "R >= half for the reconstruction": hidden(verdict(above=">=")),
    },
)  # fmt: skip

BOTH = (WEIGHT_TESTS, OUTCOME_TESTS)  # the weight test, and training with the loss
BALANCED_LOSS = Task(
    tests={WEIGHT_TESTS: 2, OUTCOME_TESTS: 2},
    alternatives={
        "per-pixel mean reconstruction with weight 1/784": balanced(PER_PIXEL, "1 / 784"),
        "weight 4, the sweep's largest balanced weight": balanced(weight="4"),
        "weight 1/4": balanced(weight="1 / 4"),
    },
    mistakes={  # one training for each way a weight goes wrong; the others only the weight test
        "per-pixel mean reconstruction, weight 1 (beta 784)": Mistake(balanced(PER_PIXEL), tests=BOTH),
        "no regularisation": Mistake(balanced(weight="0.0"), tests=BOTH),
        "tiny weight": balanced(weight="1 / 2048"),
        "huge weight": balanced(weight="100.0"),
        "reconstruction summed over the batch (beta 1/8 here)": balanced(BATCH_SUM),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "06_balance",
    {LOSS: REGULARISED_LOSS, "ch6-dominating-part": DOMINATING_PART, BALANCED: BALANCED_LOSS},
    no_hidden_tests=BOTH,
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests


def test_the_outcome_trains_the_students_loss(chapter):
    """The cell after the exercise trains ``balanced_vae``; the outcome test reports its training."""
    cells = [cell.source for cell in chapter.kernel.code_cells]
    assert "balanced_trainer.fit" in cells[cells.index(chapter.kernel.cell(BALANCED)) + 1]
    if OUTCOME_TESTS not in chapter.printed:  # run alone: the solution's outcome, trained here
        chapter.reach(BALANCED)
        chapter.kernel.run_cell(BALANCED)
        assert chapter.failure(OUTCOME_TESTS) is None
    assert "trained with your loss" in chapter.printed[OUTCOME_TESTS]


def test_a_loss_whose_regularisation_misses_the_gradient_fails_the_outcome(chapter):
    """Right numbers, wrong gradient: only training tells, and the outcome test trains."""
    detached = REGULARISED_LOSS.mistakes["the regularisation detached from the total"]
    chapter.reach(BALANCED)
    try:
        with chapter.answered(LOSS, detached):
            chapter.kernel.run_cell(BALANCED)
            assert chapter.failure(WEIGHT_TESTS) is None  # the values are right...
            assert chapter.failure(OUTCOME_TESTS), (
                "the outcome test passes a loss that trains no KL"
            )
    finally:
        chapter.kernel.run_cell(BALANCED)
