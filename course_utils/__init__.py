"""Shared library of the course "Reversing Convolutions to VAEs".

One module per concept: ``data`` (Fashion-MNIST in memory), ``layers`` (undoable layers, the
deconvnet), ``models`` (auto-encoders and the VAE), ``losses`` (losses per output assumption,
``RegularisedLoss``), ``training`` (the ``Trainer``), ``plotting`` (figures), ``widgets`` (slider
browsers that work on the static site), ``fastmode`` (the quick mode of tests and grading) and
``provenance`` (whether an exercise's answer is the student's own work or the library's reference).
"""

__version__ = "0.1.0"
