"""Chapter 6's exercises, as tables for the harness in ``tests/exercises.py``: each test cell passes
the solution and correct answers written differently, and fails the usual mistakes (named) and every
way of reusing the course's RegularisedLoss.

The rate controller's outcome test trains a VAE under the student's controller for real (two epochs
on 2,000 images, even in fast mode): each correct controller is trained, and so is the one wrong
controller that training tells apart (a constant weight); the others are the update's tests' to catch.
"""

import re

import pytest
from exercises import Cell, Edit, Exercise, Mistake, Task, hidden, variants

pytestmark = pytest.mark.slow

LOSS, RULE_TESTS = "ch6-regularised-loss", "ch6-controller-tests"
OUTCOME_TESTS = "ch6-controller-outcome-tests"
PARTS = "prediction, params = output\nreconstruction, regularisation = self.reconstruction(prediction, target), self.regulariser(params)\n"
PARTS_RETURNED = (
    '\nreturn {"loss": total, "reconstruction": reconstruction, "regularisation": regularisation}'
)
IMPORTED = "from course_utils import losses\n\n\n"
VERDICT = 'if kl {below} 2:\n    return "regularisation"\nif kl {above} {saved}:\n    return "reconstruction"\nreturn {otherwise}'


verdict = variants(
    VERDICT, below="<", above=">", saved="(mean_image - reconstruction) / 2", otherwise="None"
)


REGULARISED_LOSS = Task(
    tests={"ch6-regularised-loss-tests": 2},
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
        "the regularisation reported weighted": Mistake(PARTS + "regularisation = self.weight * regularisation\ntotal = reconstruction + regularisation" + PARTS_RETURNED, match="report it unweighted"),
        "the weight on the reconstruction": Mistake(PARTS + "total = self.weight * reconstruction + regularisation" + PARTS_RETURNED, match="the weight multiplies the regulariser"),
        "only the total": Mistake("prediction, params = output\nreturn self.reconstruction(prediction, target) + self.weight * self.regulariser(params)", match="return a dict of the parts"),
        "parts as numbers (.item())": Mistake(PARTS + 'total = reconstruction + self.weight * regularisation\nreturn {"loss": total, "reconstruction": reconstruction.item(), "regularisation": regularisation.item()}', match="do not call .item\\(\\)"),
        "a detached total": Mistake(PARTS + "total = (reconstruction + self.weight * regularisation).detach()" + PARTS_RETURNED, match="'loss' has no gradient"),
        "the regularisation detached from the total": Mistake(PARTS + "total = reconstruction + self.weight * regularisation.detach()" + PARTS_RETURNED, match="no gradient with respect to the params"),
        "the hacky cache: the first batch's regularisation kept": Mistake("""
prediction, params = output
if not hasattr(self, "cache"):
    self.cache = self.regulariser(params)
reconstruction = self.reconstruction(prediction, target)
total = reconstruction + self.weight * self.cache
return {"loss": total, "reconstruction": reconstruction, "regularisation": self.cache}""", match="reports another batch's regularisation"),
        "the weight read once, at the first call": Mistake('prediction, params = output\nself.__dict__.setdefault("first_weight", self.weight)\n'
        + PARTS.split("\n", 1)[1] + "total = reconstruction + self.first_weight * regularisation" + PARTS_RETURNED, match="read self.weight when the loss is called"),
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
    tests={"ch6-dominating-part-tests": 2},
    alternatives={
        "dominating_part: named conditions": """
collapsed = kl < 2
costs_too_much = 2 * kl > mean_image - reconstruction
return "regularisation" if collapsed else ("reconstruction" if costs_too_much else None)""",
        "dominating_part: the excess over half the saving": 'if kl < 2:\n    return "regularisation"\nreturn "reconstruction" if kl - (mean_image - reconstruction) / 2 > 0 else None',
    },
    mistakes={
        "the checks the other way round": Mistake('if kl > (mean_image - reconstruction) / 2:\n    return "reconstruction"\nif kl < 2:\n    return "regularisation"\nreturn None', match="collapsed model.*expected 'regularisation', got 'reconstruction'"),
        "without the half": Mistake(verdict(saved="mean_image - reconstruction"), match="expected 'reconstruction', got None"),
        "half of the distortion, not of what the code saves": Mistake(verdict(saved="reconstruction / 2"), match="expected 'reconstruction', got None"),
        "'balanced' instead of None": Mistake(verdict(otherwise='"balanced"'), match="expected None, got 'balanced'"),
        "the chapter's D0 whatever mean_image says": Mistake(verdict(saved="(mean_image_nats - reconstruction) / 2"), match="expected 'reconstruction', got None"),
        "R <= 2 for the regularisation": hidden(verdict(below="<="), match="exactly 2 nats"),
        "R >= half for the reconstruction": hidden(verdict(above=">="), match="exactly half of the 80 saved"),
    },
)  # fmt: skip

UPDATE = "gap = parts['regularisation'].item() - self.target\nself.loss.weight = {}"
CONTROLLER = Task(
    tests={RULE_TESTS: 3, OUTCOME_TESTS: 3},
    alternatives={
        "RateController: GECO's multiplicative update": """
import math

gap = float(parts["regularisation"]) - self.target
self.loss.weight *= math.exp(self.step * gap)  # never negative""",
    },
    mistakes={  # two short epochs let a wrong sign or an ignored target end in range: the update's tests catch them
        "the target ignored": Mistake("self.loss.weight = max(0.0, self.loss.weight + self.step * parts['regularisation'].item())", match="the weight should fall from 1"),
        "the sign flipped": Mistake(UPDATE.format("max(0.0, self.loss.weight - self.step * gap)"), match="the weight should rise from 1, but it is 0.7"),
        "a constant weight": Mistake("pass", tests=(RULE_TESTS, OUTCOME_TESTS), match="the weight should rise from 1, but it is 1\\.|above twice the target"),  # weight 1 leaves the rate near 12 nats
        "negative weights allowed": Mistake(UPDATE.format("self.loss.weight + self.step * gap"), match="never negative"),
        "the weight set to the gap, not moved by it": Mistake(UPDATE.format("max(0.0, self.step * gap)"), match="the weight should rise from 1, but it is 0.3"),
        "the first batch's rate kept": hidden("self.__dict__.setdefault('first_rate', parts['regularisation'].item())\ngap = self.first_rate - self.target\nself.loss.weight = max(0.0, self.loss.weight + self.step * gap)", match="each call should use its own batch's rate"),
        "the step ignored": hidden(UPDATE.format("max(0.0, self.loss.weight + 0.1 * gap)"), match="a larger step should move the weight further"),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "06_balance",
    {LOSS: REGULARISED_LOSS, "ch6-dominating-part": DOMINATING_PART, "ch6-controller": CONTROLLER},
    no_hidden_tests=(OUTCOME_TESTS,),
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests


def test_the_outcome_trains_the_students_controller(chapter):
    """The outcome test steers a fresh VAE with the student's RateController, and says so."""
    assert "RateController(" in chapter.kernel.cell(OUTCOME_TESTS)
    if OUTCOME_TESTS not in chapter.printed:  # run alone: the solution's outcome, trained here
        chapter.reach("ch6-controller")
        chapter.kernel.run_cell("ch6-controller")
        assert chapter.failure(OUTCOME_TESTS) is None
    assert "rate reached" in chapter.printed[OUTCOME_TESTS]
