"""Go's text/tabwriter, as the docker CLI configures it for its tables.

Docker writes every table through ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``:
cells are terminated by tabs; a column is as wide as its widest cell plus 3
spaces, and at least 10; the text after a line's last tab is not a cell of
any column. As in Go, a column's width is computed over a *block* of
consecutive lines that have a cell in that column, so a line with fewer
cells ends the block (that is why a blank line starts a new table).

:func:`table` formats rows of strings the same way (header first).
"""

from __future__ import annotations

MINWIDTH = 10
PADDING = 3


def align(text: str, minwidth: int = MINWIDTH, padding: int = PADDING) -> str:
    """Align tab-separated ``text`` as Go's tabwriter (padchar ' ', flags 0)."""
    trailing = text.endswith("\n")
    raw_lines = text.split("\n")
    if trailing:
        raw_lines.pop()
    lines = [line.split("\t") for line in raw_lines]
    widths: list[int] = []
    out: list[str] = []

    def write_lines(lo: int, hi: int) -> None:
        for cells in lines[lo:hi]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - len(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(lo: int, hi: int) -> None:
        column = len(widths)
        this = lo
        while this < hi:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(lo, this)
            lo = this
            width = minwidth
            while this < hi and column < len(lines[this]) - 1:
                w = len(lines[this][column]) + padding
                if w > width:
                    width = w
                this += 1
            widths.append(width)
            fmt(lo, this)
            widths.pop()
            lo = this
        write_lines(lo, hi)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if trailing else "")


def table(rows: list[list[str]]) -> str:
    """Rows of cells (the first is the header) as Docker prints a table."""
    return align("".join("\t".join(row) + "\n" for row in rows))
