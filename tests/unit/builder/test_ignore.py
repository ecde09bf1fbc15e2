""".dockerignore matching, against Docker's documented rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.build.ignore import Ignore, clean
from berth.errors import InvalidArgument

# The example of Docker's ".dockerignore file" documentation.
DOCS = """
# comment
*/temp*
*/*/temp*
temp?
"""


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("somedir/temporary.txt", True),
        ("somedir/temp", True),
        ("somedir/subdir/temporary.txt", True),
        ("tempa", True),
        ("tempb", True),
        ("temp", False),
        ("temp12", False),
        ("temporary.txt", False),
        ("a/b/c/temp", False),
        ("# comment", False),
    ],
)
def test_documented_example(path: str, excluded: bool) -> None:
    assert Ignore(DOCS).excluded(path) is excluded


def test_double_star() -> None:
    ig = Ignore("**/*.go\n")
    assert ig.excluded("main.go")
    assert ig.excluded("a/b/c.go")
    assert not ig.excluded("a/b/c.goo")
    ig = Ignore("a/**\n")
    assert ig.excluded("a/b") and ig.excluded("a/b/c")
    assert not ig.excluded("a") and not ig.excluded("ab/c")
    ig = Ignore("a/**/z\n")
    assert ig.excluded("a/z") and ig.excluded("a/b/c/z") and not ig.excluded("a/b/zz")
    assert Ignore("**\n").excluded("anything/at/all")


def test_exceptions_last_match_wins() -> None:
    ig = Ignore("*.md\n!README*.md\nREADME-secret.md\n")
    assert ig.excluded("CHANGES.md")
    assert not ig.excluded("README.md")
    assert ig.excluded("README-secret.md")
    ig = Ignore("*.md\nREADME-secret.md\n!README*.md\n")
    assert not ig.excluded("README-secret.md")


def test_pattern_excludes_everything_under_a_directory() -> None:
    ig = Ignore("node_modules\n/build/\n./dist\n")
    for path in ("node_modules", "node_modules/x/y.js", "build/out", "dist/a/b"):
        assert ig.excluded(path)
    assert not ig.excluded("src/node_modules")  # patterns are anchored at the root
    assert not ig.excluded("builds")


def test_exception_inside_an_excluded_directory() -> None:
    ig = Ignore("vendor\n!vendor/keep\n")
    assert ig.excluded("vendor")
    assert ig.excluded("vendor/other/file")
    assert not ig.excluded("vendor/keep")
    assert not ig.excluded("vendor/keep/deep/file")
    assert not ig.can_skip_dir("vendor")
    assert ig.can_skip_dir("vendor/other")


def test_can_skip_dir() -> None:
    ig = Ignore(".git\n*.tmp\n")
    assert ig.can_skip_dir(".git")
    assert ig.can_skip_dir("x.tmp")
    assert not ig.can_skip_dir("src")
    ig = Ignore("*\n!**/*.go\n")
    assert ig.excluded("docs")
    assert not ig.can_skip_dir("docs")  # a .go file may lie anywhere below
    ig = Ignore("*\n!src\n")
    assert ig.can_skip_dir("docs")
    assert not ig.excluded("src/a.c")


def test_wildcards_and_classes() -> None:
    ig = Ignore("file?.txt\n[ab]*.log\n[^x]y\ndata[0-9]\n")
    assert ig.excluded("file1.txt") and not ig.excluded("file10.txt")
    assert ig.excluded("a1.log") and ig.excluded("b.log") and not ig.excluded("c.log")
    assert ig.excluded("zy") and not ig.excluded("xy")
    assert ig.excluded("data7") and not ig.excluded("dataX")
    assert not Ignore("*.txt\n").excluded("dir/a.txt")  # * stops at "/"
    assert Ignore("*/*.txt\n").excluded("dir/a.txt")


def test_escapes() -> None:
    ig = Ignore("\\*literal\nq\\?\n")
    assert ig.excluded("*literal") and not ig.excluded("xliteral")
    assert ig.excluded("q?") and not ig.excluded("qa")


def test_comments_blank_lines_and_whitespace() -> None:
    ig = Ignore("# a\n\n   \n  spaced.txt  \n #notacomment\n")
    assert ig.excluded("spaced.txt")
    assert ig.excluded("#notacomment")
    assert not ig.excluded("# a")


def test_bad_patterns() -> None:
    for text in ("!\n", "[a\n", "a\\\n", "[]\n", "[a-]\n"):
        with pytest.raises(InvalidArgument):
            Ignore(text)


def test_context_root_is_never_excluded() -> None:
    assert not Ignore("*\n").excluded(".")
    assert not Ignore("**\n").excluded("")


def test_clean() -> None:
    assert clean("") == "."
    assert clean("./a/../b/") == "b"
    assert clean("/../a//b/.") == "/a/b"
    assert clean("../a") == "../a"
    assert clean("a/b/../../..") == ".."


_seg = st.text(alphabet="abcxyz._-", min_size=1, max_size=5).filter(lambda s: s not in (".", ".."))


@given(st.lists(_seg, min_size=1, max_size=3), st.lists(_seg, max_size=3))
def test_pattern_excludes_everything_below_what_it_names(head: list[str], tail: list[str]) -> None:
    name = "/".join(head)
    ig = Ignore(name + "\n")
    assert ig.excluded("/".join(head + tail))
    assert ig.can_skip_dir(name)


@given(st.lists(_seg, min_size=1, max_size=3), st.lists(_seg, min_size=1, max_size=3))
def test_exception_reincludes(head: list[str], tail: list[str]) -> None:
    name = "/".join(head)
    inner = "/".join(head + tail)
    ig = Ignore(f"{name}\n!{inner}\n")
    assert not ig.excluded(inner)
    assert not ig.can_skip_dir(name)


@given(st.text(max_size=200), st.lists(_seg, min_size=1, max_size=4))
def test_arbitrary_text_only_invalid_argument(text: str, path: list[str]) -> None:
    try:
        ig = Ignore(text)
    except InvalidArgument:
        return
    p = "/".join(path)
    # a directory a walker may skip is one whose contents are all excluded
    if ig.can_skip_dir(p):
        assert ig.excluded(p)
        assert ig.excluded(p + "/inner/file")
