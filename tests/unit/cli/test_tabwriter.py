from __future__ import annotations

from berth.cli.tabwriter import align, table

DOCKER_DF = """\
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          0         0         0B        0B
Containers      0         0         0B        0B
Local Volumes   0         0         0B        0B
Build Cache     0         0         0B        0B
"""


def test_docker_system_df_exactly() -> None:
    rows = [["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]]
    for name in ("Images", "Containers", "Local Volumes", "Build Cache"):
        rows.append([name, "0", "0", "0B", "0B"])
    assert table(rows) == DOCKER_DF


def test_docker_df_verbose_header() -> None:
    header = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n"
    assert align(header) == (
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE      SHARED SIZE   UNIQUE SIZE   "
        "CONTAINERS\n"
    )


def test_blocks_end_at_lines_with_fewer_cells() -> None:
    text = "a\tbbbbbbbbbbbbbbbbbb\tc\nplain line\nxx\ty\tz\n"
    assert align(text) == ("a         bbbbbbbbbbbbbbbbbb   c\nplain line\nxx        y         z\n")
    assert align("") == ""
    assert align("no tabs") == "no tabs"
