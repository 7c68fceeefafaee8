"""Autograding's first step: ``RestoreCells``, nbgrader's ``OverwriteCells`` that puts back every
deleted read-only cell (nbgrader's own puts back test cells only, and fails when the cell before
one is read-only), so that grading depends on nothing a student wrote outside solution cells.
``nbgrader_config.py`` puts it in place of ``OverwriteCells``.
"""

import nbformat
from nbgrader.preprocessors import OverwriteCells

from instructor.cells import grade_id


class RestoreCells(OverwriteCells):
    """``OverwriteCells`` that puts back every deleted read-only cell, not only test cells, each
    after the nearest earlier cell still there (nbgrader's own fails when that cell is read-only)."""

    @staticmethod
    def restorable(source_notebook) -> list:
        """The gradebook's cells that come back when deleted, in order: read-only and graded ones."""
        graded = {cell.name for cell in source_notebook.grade_cells}
        return [c for c in source_notebook.source_cells if c.locked or c.name in graded]

    def add_missing_grade_cells(self, nb, resources):
        """Put back each missing restorable cell but task cells (nbgrader's next step, at the end)."""
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source.source_cells]
        tasks = {cell.name for cell in source.task_cells}
        for source_cell in self.restorable(source):
            present = [grade_id(cell) for cell in nb.cells]
            if source_cell.name in present or source_cell.name in tasks:
                continue
            self.log.warning("Missing cell %s encountered, adding to notebook", source_cell.name)
            before = order[: order.index(source_cell.name)]
            anchors = [present.index(name) for name in before if name in present]
            position = max(anchors) + 1 if anchors else 0
            nb.cells.insert(position, self.restored(source, source_cell))
        return nb, resources

    def restored(self, source_notebook, source_cell):
        """The cell as nbgrader restores a grade cell; a read-only cell keeps no grade."""
        grades = {cell.name: cell for cell in source_notebook.grade_cells}
        if source_cell.name in grades:
            solutions = {cell.name for cell in source_notebook.solution_cells}
            return self.missing_cell_transform(
                source_cell,
                grades[source_cell.name].max_score,
                is_solution=source_cell.name in solutions,
            )
        cell = self.missing_cell_transform(source_cell, 0)
        meta = cell["metadata"]["nbgrader"]  # plain dicts inside, not NotebookNodes
        del meta["points"]
        meta["grade"] = False
        return nbformat.from_dict(cell)
