"""Instructor tools: the student release, its check, autograding, and the class report.

Students never need this package; ``course_utils`` is theirs. Run it from the repository root,
through the Makefile (``make release``, ``make release-check``, ``make autograde CHAPTER=1``) or
``python -m instructor --help``.
"""
