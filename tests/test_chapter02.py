"""Chapter 2's exercise: its test cells pass the solution and fail the mistakes students make."""

import re

import pytest
from kernel import HIDDEN, ChapterKernel

pytestmark = pytest.mark.slow

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n.*?### END SOLUTION[ \t]*(\n|\Z)", re.S | re.M)
ANSWER, TESTS = "ch2-visualise-activations", "ch2-visualise-activations-tests"


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel("02_visualising_features") as kernel:
        kernel.run_before(ANSWER)
        yield kernel


def answer(kernel, body):
    """The solution cell with its solution replaced by ``body`` (indented 4 spaces)."""
    source = kernel.cell(ANSWER)
    assert SOLUTION.search(source), "the exercise has no solution block"
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return SOLUTION.sub(lambda _: indented, source)


def test_solution_passes_and_tests_have_hidden_part(chapter):
    chapter.run_cell(ANSWER)
    chapter.run_cell(TESTS)
    assert HIDDEN.search(chapter.cell(TESTS))


def test_solution_is_not_only_the_reference(chapter):
    """The hidden tests compare with the library; the visible ones stand on their own."""
    source = HIDDEN.sub("", chapter.cell(TESTS))
    assert "course_utils" not in source


MISTAKES = {
    "top k over the whole batch": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten()
top = flat.topk(k)
kept = torch.zeros_like(flat).scatter(0, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "no zeroing: every activation goes back": (
        """
activations, contexts = model.activations(x, layer)
return model.undo(activations, contexts)
""",
        True,
    ),
    "ones instead of the activations' values": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, 1.0)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "the k smallest": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1, largest=False)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "k per channel instead of per sample": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(2)
top = flat.topk(k, dim=2)
kept = torch.zeros_like(flat).scatter(2, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "largest magnitude instead of largest value": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.abs().topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, flat.gather(1, top.indices))
return model.undo(kept.view_as(activations), contexts)
""",
        False,
    ),
    "one layer too early": (
        """
activations, contexts = model.activations(x, None if layer is None else layer - 1)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        False,
    ),
    "crashes on layer=None": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts[: layer + 1])
""",
        True,
    ),
    "guided backpropagation's ReLU rule": (
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts, rule="guided")
""",
        False,
    ),
    "calling the library's visualise_activations": (
        "return model.visualise_activations(x, layer, k)",
        True,
    ),
    "calling the library's keep_top_k": (
        """
from course_utils.layers import keep_top_k
activations, contexts = model.activations(x, layer)
return model.undo(keep_top_k(activations, k), contexts)
""",
        True,
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_tests_fail_the_mistake(chapter, mistake):
    body, visible = MISTAKES[mistake]
    chapter.run(answer(chapter, body))
    assert chapter.fails(TESTS), f"the tests pass the mistake: {mistake}"
    if visible:
        assert chapter.visible_fails(TESTS), f"the visible tests pass the mistake: {mistake}"
