"""Numbers quoted in a chapter's text, taken from the computation (myst-nb's ``glue``).

A chapter computes a value and glues it under a name; its Markdown quotes it with
``{glue:text}`name:.1f` ``, so the text says what the cell computed. The site's build (myst-nb)
reads the glued values; a notebook opened in Jupyter, Binder or Colab has no myst-nb, and there
``glue`` records nothing (the value is printed by the cell anyway).

The record is written here as ``myst_nb.glue(name, value, display=False)`` writes it (tests/
test_glue.py reads it back with myst-nb's own parser): importing myst-nb would cost every chapter
about a second (it imports nbformat and jsonschema), once in the site's build and once per graded
submission.
"""

from importlib.util import find_spec
from numbers import Real

from IPython.core.formatters import format_display_data
from IPython.display import display

GLUE_PREFIX = "application/papermill.record/"  # myst_nb.ext.glue.GLUE_PREFIX


def glue(name: str, value) -> None:
    """Record ``value`` under ``name`` for the text, without showing it; numbers as Python floats."""
    if hasattr(value, "item"):  # a tensor or a NumPy scalar: its repr would not read as a number
        value = value.item()
    if not isinstance(value, (Real, str)):
        raise TypeError(f"glue {name!r}: a number or a string, not {type(value).__name__}")
    if find_spec("myst_nb") is None:  # Jupyter, Binder, Colab: nothing reads it
        return
    bundle, metadata = format_display_data(value)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display(
        {GLUE_PREFIX + mime: data for mime, data in bundle.items()}, raw=True, metadata=metadata
    )
