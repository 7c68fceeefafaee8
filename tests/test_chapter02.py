"""Chapter 2's exercises: their test cells pass correct answers and fail the mistakes students make.

Each task's test cell must pass the instructor's solution and a correct answer written differently
(hidden tests included), and fail realistic wrong answers and the library's own projection, in the
fast (grading) mode that ``ChapterKernel`` runs.
"""

import nbformat
import pytest
from kernel import CHAPTERS, HIDDEN, ChapterKernel, grade_id

pytestmark = pytest.mark.slow

CHAPTER = "02_visualising_features"
TESTS = {
    "ch2-visualise-activations": "ch2-visualise-activations-tests",
    "ch2-top-images": "ch2-top-images-tests",
    "ch2-class-map": "ch2-class-map-tests",
}

#: one correct answer per solution cell, written differently from the instructor's
ALTERNATIVES = {
    "ch2-visualise-activations": """
activations, contexts = model.activations(x, layer)
kept = torch.zeros_like(activations)
for i, sample in enumerate(activations):  # one sample at a time
    top = sample.flatten().topk(k).indices
    kept[i].view(-1)[top] = sample.flatten()[top].detach()
return model.undo(kept, contexts)
""",
    "ch2-top-images": """
found = torch.empty(len(images))
with torch.no_grad():
    for start in range(0, len(images), batch_size):
        activations, _ = model.activations(images[start : start + batch_size], layer)
        found[start : start + batch_size] = activations[:, channel].flatten(1).max(dim=1).values
order = found.argsort(descending=True)[:n]
return found[order], order
""",
    "ch2-class-map": """
# the signal is d score / d feature maps: let autograd find it
features, linear = model[0], model[2]
activations, contexts = features.activations(x)
activations = activations.detach().requires_grad_()
best_scores = linear(activations.flatten(1)).max(dim=1).values
(signal,) = torch.autograd.grad(best_scores.sum(), activations)
with torch.no_grad():
    return features.undo(signal, contexts, rule)
""",
}

#: more correct answers: (solution cell, body)
MORE_ALTERNATIVES = {
    "class_map: one image at a time": (
        "ch2-class-map",
        """
maps = []
with torch.no_grad():
    for image in x.split(1):
        activations, contexts = model[0].activations(image)
        c = model(image).argmax()
        maps.append(model[0].undo(model[2].weight[c].view_as(activations), contexts, rule))
return torch.cat(maps)
""",
    ),
    "top_images: sort, then slice": (
        "ch2-top-images",
        """
peaks = torch.cat([model.activations(batch, layer)[0][:, channel].amax(dim=(1, 2)) for batch in torch.split(images, batch_size)])
ranked = torch.sort(peaks.detach(), descending=True)
return ranked.values[:n], ranked.indices[:n]
""",
    ),
}

VISUALISE_TOP = """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
"""

CLASS_SIGNAL = """
features, linear = model[0], model[2]
activations, contexts = features.activations(x)
predicted = linear(activations.flatten(1)).argmax(dim=1)
"""

#: (solution cell, body, whether the visible tests alone catch it)
MISTAKES = {
    "visualise: top k over the whole batch": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten()
top = flat.topk(k)
kept = torch.zeros_like(flat).scatter(0, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "visualise: no zeroing, every activation goes back": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, layer)
return model.undo(activations, contexts)
""",
        True,
    ),
    "visualise: ones instead of the activations' values": (
        "ch2-visualise-activations",
        VISUALISE_TOP
        + """
kept = torch.zeros_like(flat).scatter(1, top.indices, 1.0)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "visualise: the k smallest": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.topk(k, dim=1, largest=False)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "visualise: k per channel instead of per sample": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(2)
top = flat.topk(k, dim=2)
kept = torch.zeros_like(flat).scatter(2, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        True,
    ),
    "visualise: largest magnitude instead of largest value": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, layer)
flat = activations.flatten(1)
top = flat.abs().topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, flat.gather(1, top.indices))
return model.undo(kept.view_as(activations), contexts)
""",
        False,
    ),
    "visualise: one layer too early": (
        "ch2-visualise-activations",
        """
activations, contexts = model.activations(x, None if layer is None else layer - 1)
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)
""",
        False,
    ),
    "visualise: crashes on layer=None": (
        "ch2-visualise-activations",
        VISUALISE_TOP
        + """
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts[: layer + 1])
""",
        True,
    ),
    "visualise: guided backpropagation's ReLU rule": (
        "ch2-visualise-activations",
        VISUALISE_TOP
        + """
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts, rule="guided")
""",
        False,
    ),
    "visualise: calling the library's visualise_activations": (
        "ch2-visualise-activations",
        "return model.visualise_activations(x, layer, k)",
        True,
    ),
    "visualise: calling the library's keep_top_k": (
        "ch2-visualise-activations",
        """
from course_utils.layers import keep_top_k
activations, contexts = model.activations(x, layer)
return model.undo(keep_top_k(activations, k), contexts)
""",
        True,
    ),
    "top_images: the mean over positions instead of the peak": (
        "ch2-top-images",
        """
peaks = torch.cat([model.activations(b, layer)[0][:, channel].mean(dim=(1, 2)) for b in images.split(batch_size)])
return peaks.topk(n)
""",
        True,
    ),
    "top_images: every channel instead of the one given": (
        "ch2-top-images",
        """
peaks = torch.cat([model.activations(b, layer)[0].amax(dim=(1, 2, 3)) for b in images.split(batch_size)])
return peaks.topk(n)
""",
        True,
    ),
    "top_images: weakest first": (
        "ch2-top-images",
        """
peaks = torch.cat([model.activations(b, layer)[0][:, channel].amax(dim=(1, 2)) for b in images.split(batch_size)])
return peaks.topk(n, largest=False)
""",
        True,
    ),
    "top_images: positions within the batch, not within images": (
        "ch2-top-images",
        """
best_peaks, best_indices = [], []
for batch in images.split(batch_size):
    top = model.activations(batch, layer)[0][:, channel].amax(dim=(1, 2)).topk(min(n, len(batch)))
    best_peaks.append(top.values)
    best_indices.append(top.indices)
peaks, indices = torch.cat(best_peaks), torch.cat(best_indices)
order = peaks.topk(n).indices
return peaks[order], indices[order]
""",
        True,
    ),
    "top_images: all images at once": (
        "ch2-top-images",
        "return model.activations(images, layer)[0][:, channel].amax(dim=(1, 2)).topk(n)",
        True,
    ),
    "top_images: indices and peaks swapped": (
        "ch2-top-images",
        """
peaks = torch.cat([model.activations(b, layer)[0][:, channel].amax(dim=(1, 2)) for b in images.split(batch_size)])
top = peaks.topk(n)
return top.indices, top.values
""",
        True,
    ),
    "top_images: one layer too early": (
        "ch2-top-images",
        """
before = None if layer is None else layer - 1
peaks = torch.cat([model.activations(b, before)[0][:, channel].amax(dim=(1, 2)) for b in images.split(batch_size)])
return peaks.topk(n)
""",
        False,
    ),
    "class_map: the rule ignored": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
return features.undo(linear.weight[predicted].view_as(activations), contexts)
""",
        True,
    ),
    "class_map: always class 0": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
signal = linear.weight[torch.zeros_like(predicted)].view_as(activations)
return features.undo(signal, contexts, rule)
""",
        True,
    ),
    "class_map: every class's weights summed": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
signal = linear.weight.sum(dim=0).expand(len(x), -1).reshape(activations.shape)
return features.undo(signal, contexts, rule)
""",
        True,
    ),
    "class_map: the strongest activation instead of the class's weights": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
flat = activations.flatten(1)
top = flat.topk(1, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return features.undo(kept.view_as(activations), contexts, rule)
""",
        True,
    ),
    "class_map: the signal reshaped channels-last": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
n, c, h, w = activations.shape
signal = linear.weight[predicted].view(n, h, w, c).permute(0, 3, 1, 2)
return features.undo(signal, contexts, rule)
""",
        True,
    ),
    "class_map: the probability's gradient instead of the score's": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
activations = activations.detach().requires_grad_()
probabilities = linear(activations.flatten(1)).softmax(dim=1)
(signal,) = torch.autograd.grad(probabilities.max(dim=1).values.sum(), activations)
return features.undo(signal, contexts, rule)
""",
        True,
    ),
    "class_map: the signal times the activations": (
        "ch2-class-map",
        CLASS_SIGNAL
        + """
signal = linear.weight[predicted].view_as(activations) * activations
return features.undo(signal, contexts, rule)
""",
        True,
    ),
}

#: whole solution cells that reuse the library's reference
REUSED = {
    "visualise: aliasing the library's method": (
        "ch2-visualise-activations",
        "visualise_activations = UndoableSequential.visualise_activations",
    ),
}


@pytest.fixture(scope="module")
def chapter():
    with ChapterKernel(CHAPTER) as kernel:
        kernel.position = 0
        yield kernel


def reach(kernel, solution):
    """Run the chapter up to ``solution``, with the instructor's answers in the exercises passed."""
    cells = kernel.code_cells
    target = next(i for i, cell in enumerate(cells) if grade_id(cell) == solution)
    for cell in cells[: min(kernel.position, target)]:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            kernel.run(cell.source)  # undo any answer a test defined
    for cell in cells[kernel.position : target]:
        kernel.run(cell.source)
    kernel.position = max(kernel.position, target)


def test_every_solution_cell_has_an_alternative_and_tests():
    notebook = nbformat.read(CHAPTERS / f"{CHAPTER}.ipynb", as_version=4)
    solutions = [
        grade_id(c)
        for c in notebook.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    assert solutions == list(ALTERNATIVES) == list(TESTS)
    points = {grade_id(c): c.metadata.get("nbgrader", {}).get("points") for c in notebook.cells}
    assert [points[t] for t in TESTS.values()] == [3, 3, 4]


def test_solutions_pass_their_tests(chapter):
    for solution, tests in TESTS.items():
        reach(chapter, solution)
        chapter.run_cell(solution)
        chapter.run_cell(tests)  # raises CellFailed if a test fails
        assert HIDDEN.search(chapter.cell(tests)), f"{tests} has no hidden tests"


def test_visible_tests_stand_on_their_own(chapter):
    """The visible tests work the answers out by hand or with autograd, not with the library."""
    for tests in TESTS.values():
        assert ".visualise_activations(" not in HIDDEN.sub("", chapter.cell(tests)), tests


@pytest.mark.parametrize("solution", list(ALTERNATIVES))
def test_alternatives_pass(chapter, solution):
    reach(chapter, solution)
    chapter.answer(solution, ALTERNATIVES[solution])
    chapter.assert_passes(TESTS[solution], f"ALTERNATIVES[{solution!r}]")


@pytest.mark.parametrize("name", list(MORE_ALTERNATIVES))
def test_more_alternatives_pass(chapter, name):
    solution, body = MORE_ALTERNATIVES[name]
    reach(chapter, solution)
    chapter.answer(solution, body)
    chapter.assert_passes(TESTS[solution], name)


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistakes_fail(chapter, mistake):
    solution, body, visible = MISTAKES[mistake]
    reach(chapter, solution)
    chapter.answer(solution, body)
    chapter.assert_fails(TESTS[solution], mistake, visible)


@pytest.mark.parametrize("mistake", list(REUSED))
def test_reusing_the_reference_fails(chapter, mistake):
    solution, source = REUSED[mistake]
    reach(chapter, solution)
    chapter.run(source)
    chapter.assert_fails(TESTS[solution], mistake)
