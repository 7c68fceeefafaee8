"""course_utils.glue: values quoted in the text are recorded as myst-nb reads them."""

import numpy as np
import pytest
import torch
from IPython.core.interactiveshell import InteractiveShell
from myst_nb.core.variables import format_plain_text
from myst_nb.ext.glue import GLUE_PREFIX

from course_utils.glue import glue


@pytest.fixture
def shown(monkeypatch):
    """What ``glue`` displays: (data, metadata) pairs."""
    InteractiveShell.instance()
    calls = []
    monkeypatch.setattr(
        "course_utils.glue.display",
        lambda data, raw=False, metadata=None: calls.append((data, metadata)),
    )
    return calls


def test_a_tensor_is_glued_as_a_number_the_text_can_format(shown):
    glue("loss", torch.tensor(257.734))
    [(data, metadata)] = shown
    assert metadata == {"scrapbook": {"name": "loss", "mime_prefix": GLUE_PREFIX}}
    assert format_plain_text(data[GLUE_PREFIX + "text/plain"], ".1f") == "257.7"


def test_a_numpy_scalar_is_glued_as_a_plain_number(shown):
    glue("share", np.float64(0.25))
    [(data, _)] = shown
    assert data[GLUE_PREFIX + "text/plain"] == "0.25"


def test_a_string_is_glued_without_quotes(shown):
    glue("classes", "sandals and trousers")
    [(data, _)] = shown
    assert format_plain_text(data[GLUE_PREFIX + "text/plain"], "") == "sandals and trousers"


def test_anything_else_is_refused(shown):
    with pytest.raises(TypeError, match="glue 'curve': a number or a string, not list"):
        glue("curve", [1.0, 2.0])
    assert shown == []


def test_without_myst_nb_nothing_is_recorded(shown, monkeypatch):
    monkeypatch.setattr("course_utils.glue.find_spec", lambda name: None)
    glue("loss", 1.5)
    assert shown == []


@pytest.mark.parametrize("value", [257.734, 3, "sandals and trousers"])
def test_the_record_is_what_myst_nb_glue_writes(shown, monkeypatch, value):
    from myst_nb import glue as myst_glue

    theirs = []
    monkeypatch.setattr(
        "myst_nb.ext.glue.ipy_display",
        lambda data, raw=False, metadata=None: theirs.append((data, metadata)),
    )
    myst_glue("x", value, display=False)
    glue("x", value)
    assert shown == theirs
