"""Numbers quoted in a chapter's text, taken from the computation (myst-nb's ``glue``).

A chapter computes a value and glues it under a name; its Markdown quotes it with
``{glue:text}`name:.1f` ``, so the text says what the cell computed. The site's build (myst-nb)
reads the glued values; a notebook opened in Jupyter, Binder or Colab has no myst-nb, and there
``glue`` records nothing (the value is printed by the cell anyway).
"""

from numbers import Real


def glue(name: str, value) -> None:
    """Record ``value`` under ``name`` for the text, without showing it; numbers as Python floats."""
    if hasattr(value, "item"):  # a tensor or a NumPy scalar: its repr would not read as a number
        value = value.item()
    if not isinstance(value, (Real, str)):
        raise TypeError(f"glue {name!r}: a number or a string, not {type(value).__name__}")
    try:
        from myst_nb import glue as myst_glue
    except ModuleNotFoundError:  # Jupyter, Binder, Colab: nothing reads it
        return
    myst_glue(name, value, display=False)
