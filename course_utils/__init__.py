"""Shared library of the course "Reversing Convolutions to VAEs".

One module per concept: ``data`` (Fashion-MNIST in memory), ``training`` (the ``Trainer``),
``plotting`` (figures), ``fastmode`` (the quick mode that tests and autograding use).
"""

__version__ = "0.1.0"
