"""Chapter 2's exercises, as tables for the harness in ``tests/exercises.py``: each task's test cell
passes the solution and correct answers written differently, and fails the mistakes students make
and the library's own projection."""

import pytest
from exercises import Cell, Exercise, Mistake, Task, hidden, variants

from instructor.cells import HIDDEN

pytestmark = pytest.mark.slow

TOP_K = """
activations, contexts = model.activations(x, {layer})
flat = activations.flatten(1)
top = flat.topk(k, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts{rule})
"""
PEAKS = """
peaks = torch.cat([model.activations(b, {layer})[0]{channel}.amax(dim=({dims})) for b in images.split(batch_size)])
return peaks.topk(n{largest})
"""
CLASS_SIGNAL = """
features, linear = model[0], model[2]
activations, contexts = features.activations(x)
predicted = linear(activations.flatten(1)).argmax(dim=1)
"""


top_k = variants(TOP_K, layer="layer", rule="")
peaks = variants(PEAKS, layer="layer", channel="[:, channel]", dims="1, 2", largest="")


VISUALISE = Task(
    tests={"ch2-visualise-activations-tests": 3},
    alternatives={
        "visualise: one sample at a time": """
activations, contexts = model.activations(x, layer)
kept = torch.zeros_like(activations)
for i, sample in enumerate(activations):  # one sample at a time
    top = sample.flatten().topk(k).indices
    kept[i].view(-1)[top] = sample.flatten()[top].detach()
return model.undo(kept, contexts)""",
    },
    mistakes={
        "visualise: top k over the whole batch": Mistake("""
activations, contexts = model.activations(x, layer)
flat = activations.flatten()
top = flat.topk(k)
kept = torch.zeros_like(flat).scatter(0, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)""", match="each sample keeps its own k strongest activations"),
        "visualise: no zeroing, every activation goes back": Mistake("""
activations, contexts = model.activations(x, layer)
return model.undo(activations, contexts)""", match="k=2 at the ReLU"),
        "visualise: ones instead of the activations' values": Mistake(top_k().replace("top.values", "1.0"), match="k=2 at the ReLU"),
        "visualise: the k smallest": Mistake(top_k().replace("topk(k, dim=1)", "topk(k, dim=1, largest=False)"), match="k=2 at the ReLU"),
        "visualise: k per channel instead of per sample": Mistake("""
activations, contexts = model.activations(x, layer)
flat = activations.flatten(2)
top = flat.topk(k, dim=2)
kept = torch.zeros_like(flat).scatter(2, top.indices, top.values)
return model.undo(kept.view_as(activations), contexts)""", match="k=2 at the ReLU"),
        "visualise: largest magnitude instead of largest value": hidden(
            top_k().replace("flat.topk", "flat.abs().topk").replace("top.values", "flat.gather(1, top.indices)"), match="wrong projection at layer 0"),
        "visualise: one layer too early": hidden(top_k(layer="None if layer is None else layer - 1"), match="wrong projection at layer 0"),
        "visualise: crashes on layer=None": Mistake(top_k().replace("contexts)", "contexts[: layer + 1])"), match="TypeError: .*'NoneType'"),
        "visualise: guided backpropagation's ReLU rule": hidden(top_k(rule=', rule="guided"'), match="wrong projection at layer 3"),
    },
    reuse={
        "visualise: calling the library's visualise_activations": "return model.visualise_activations(x, layer, k)",
        "visualise: calling the library's keep_top_k": """
from course_utils.layers import keep_top_k
activations, contexts = model.activations(x, layer)
return model.undo(keep_top_k(activations, k), contexts)""",
        "visualise: aliasing the library's method": Cell(
            "visualise_activations = UndoableSequential.visualise_activations"
        ),
    },
)  # fmt: skip

TOP_IMAGES = Task(
    tests={"ch2-top-images-tests": 3},
    alternatives={
        "top_images: a loop that fills a tensor": """
found = torch.empty(len(images))
with torch.no_grad():
    for start in range(0, len(images), batch_size):
        activations, _ = model.activations(images[start : start + batch_size], layer)
        found[start : start + batch_size] = activations[:, channel].flatten(1).max(dim=1).values
order = found.argsort(descending=True)[:n]
return found[order], order""",
        "top_images: sort, then slice": """
peaks = torch.cat([model.activations(batch, layer)[0][:, channel].amax(dim=(1, 2)) for batch in torch.split(images, batch_size)])
ranked = torch.sort(peaks.detach(), descending=True)
return ranked.values[:n], ranked.indices[:n]""",
    },
    mistakes={
        "top_images: the mean over positions instead of the peak": Mistake(peaks().replace("amax", "mean"), match="rank by each image's largest activation"),
        "top_images: every channel instead of the one given": Mistake(peaks(channel="", dims="1, 2, 3"), match="rank by each image's largest activation"),
        "top_images: weakest first": Mistake(peaks(largest=", largest=False"), match="rank by each image's largest activation"),
        "top_images: positions within the batch, not within images": Mistake("""
best_peaks, best_indices = [], []
for batch in images.split(batch_size):
    top = model.activations(batch, layer)[0][:, channel].amax(dim=(1, 2)).topk(min(n, len(batch)))
    best_peaks.append(top.values)
    best_indices.append(top.indices)
peaks, indices = torch.cat(best_peaks), torch.cat(best_indices)
order = peaks.topk(n).indices
return peaks[order], indices[order]""", match="rank by each image's largest activation"),
        "top_images: all images at once": Mistake("return model.activations(images, layer)[0][:, channel].amax(dim=(1, 2)).topk(n)", match="at most batch_size at a time"),
        "top_images: indices and peaks swapped": Mistake(peaks().replace(
            "return peaks.topk(n)", "top = peaks.topk(n)\nreturn top.indices, top.values"
        ), match="not \\[9.0, 7.0, 5.0\\]"),
        "top_images: one layer too early": hidden(
            "before = None if layer is None else layer - 1\n" + peaks(layer="before"), match="wrong peaks for layer 0"),
    },
)  # fmt: skip

CLASS_MAP = Task(
    tests={"ch2-class-map-tests": 4},
    alternatives={
        "class_map: autograd finds the signal": """
# the signal is d score / d feature maps: let autograd find it
features, linear = model[0], model[2]
activations, contexts = features.activations(x)
activations = activations.detach().requires_grad_()
best_scores = linear(activations.flatten(1)).max(dim=1).values
(signal,) = torch.autograd.grad(best_scores.sum(), activations)
with torch.no_grad():
    return features.undo(signal, contexts, rule)""",
        "class_map: one image at a time": """
maps = []
with torch.no_grad():
    for image in x.split(1):
        activations, contexts = model[0].activations(image)
        c = model(image).argmax()
        maps.append(model[0].undo(model[2].weight[c].view_as(activations), contexts, rule))
return torch.cat(maps)""",
    },
    mistakes={
        "class_map: the rule ignored": Mistake(CLASS_SIGNAL + "return features.undo(linear.weight[predicted].view_as(activations), contexts)", match="with rule='backprop'"),
        "class_map: always class 0": Mistake(CLASS_SIGNAL + """
signal = linear.weight[torch.zeros_like(predicted)].view_as(activations)
return features.undo(signal, contexts, rule)""", match="start from the row of the predicted class"),
        "class_map: every class's weights summed": Mistake(CLASS_SIGNAL + """
signal = linear.weight.sum(dim=0).expand(len(x), -1).reshape(activations.shape)
return features.undo(signal, contexts, rule)""", match="start from the row of the predicted class"),
        "class_map: the strongest activation instead of the class's weights": Mistake(CLASS_SIGNAL + """
flat = activations.flatten(1)
top = flat.topk(1, dim=1)
kept = torch.zeros_like(flat).scatter(1, top.indices, top.values)
return features.undo(kept.view_as(activations), contexts, rule)""", match="start from the row of the predicted class"),
        "class_map: the signal reshaped channels-last": Mistake(CLASS_SIGNAL + """
n, c, h, w = activations.shape
signal = linear.weight[predicted].view(n, h, w, c).permute(0, 3, 1, 2)
return features.undo(signal, contexts, rule)""", match="gradient of the predicted class's score"),
        "class_map: the probability's gradient instead of the score's": Mistake(CLASS_SIGNAL + """
activations = activations.detach().requires_grad_()
probabilities = linear(activations.flatten(1)).softmax(dim=1)
(signal,) = torch.autograd.grad(probabilities.max(dim=1).values.sum(), activations)
return features.undo(signal, contexts, rule)""", match="start from the row of the predicted class"),
        "class_map: the signal times the activations": Mistake(CLASS_SIGNAL + """
signal = linear.weight[predicted].view_as(activations) * activations
return features.undo(signal, contexts, rule)""", match="start from the row of the predicted class"),
    },
)  # fmt: skip

EXERCISE = Exercise(
    "02_visualising_features",
    {
        "ch2-visualise-activations": VISUALISE,
        "ch2-top-images": TOP_IMAGES,
        "ch2-class-map": CLASS_MAP,
    },
)
globals().update(EXERCISE.checks())  # the fixture chapter and the harness's tests


def test_visible_tests_stand_on_their_own(chapter):
    """The visible tests work the answers out by hand or with autograd, not with the library."""
    for tests in EXERCISE.tasks.values():
        for cell in tests.tests:
            assert ".visualise_activations(" not in HIDDEN.sub("", chapter.kernel.cell(cell)), cell
