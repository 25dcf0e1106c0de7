"""Rejections say what happened, in one line a reader of rejected.parquet understands: a timeout names the
clock and its setting, an early exit how the program left, printing past the file-size limit says it was
the printed output and which setting to raise; a process pool is ``forbidden_process`` like any other
process creation (it fails on its semaphore before the audit hook sees a fork); and code written on the
fence's own line ("```python def f(x): return x```") is extracted. Every verdict here comes from a real
sandboxed run, on the fork server, in a fresh sandbox and without namespaces."""

from __future__ import annotations

import pytest

from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify.execution import CodeExecutionVerifier
from synthgen.verify.extract import extract_code
from synthgen.verify.sandbox import Sandbox, SandboxLimits
from test_sandbox_fork_server import WHY_NOT as WHY_NO_FORK_SERVER

TEST = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n"
PROGRAM = "{code}\n{test}\ncheck({entry_point})\n"
SOLUTION = "def add(a, b):\n    return a + b\n"
MODES = ["fork-server", "spawn", "no-isolation"]


def candidate_for(text: str) -> Candidate:
    seed = Seed(0, {"prompt": "", "test": TEST, "entry_point": "add"})
    return Candidate(GenerationRequest(0, "", seed, 0), 0, text, 10)


def make_verifier(mode: str, **settings) -> CodeExecutionVerifier:
    if mode == "fork-server" and WHY_NO_FORK_SERVER:
        pytest.skip(WHY_NO_FORK_SERVER)
    verifier = CodeExecutionVerifier(program=PROGRAM, workers=1, isolation="none" if mode == "no-isolation" else "auto",
                                     **settings)
    verifier.sandbox.fork_server = mode == "fork-server"
    return verifier


@pytest.fixture(scope="module", params=MODES)
def verifier(request):
    """The recipe's code_execution verifier with a 1 s wall clock and a 1 MB file-size limit."""
    verifier = make_verifier(request.param, timeout_s=1.0, file_size_mb=1)
    yield verifier
    verifier.close()


def rejection(verifier: CodeExecutionVerifier, code: str):
    verdict = verifier.check(candidate_for(f"```python\n{code}```\n"))
    assert not verdict.keep, verdict
    return verdict.reason, verdict.evidence["error"].splitlines()[0] if verdict.evidence["error"] else ""


# 1. Timeouts and early exits say what happened.

def test_a_program_past_the_wall_clock_says_so_with_the_limit(verifier):
    reason, first = rejection(verifier, "import time\n\n\ndef add(a, b):\n    time.sleep(30)\n")
    assert (reason, first) == ("timeout", "ran past the 1 s wall clock (timeout_s)")


@pytest.mark.parametrize("mode", MODES)
def test_a_program_past_its_cpu_time_says_so_with_the_limit(mode):
    verifier = make_verifier(mode, timeout_s=5.0, cpu_s=1)
    try:
        verdict = verifier.check(candidate_for("```python\ndef add(a, b):\n    while True:\n        pass\n```"))
    finally:
        verifier.close()
    assert (verdict.reason, verdict.evidence["limit"]) == ("timeout", "cpu"), verdict
    assert verdict.evidence["error"] == "used more than 1 s of CPU time (cpu_s)"


@pytest.mark.parametrize("code, message", [
    ("import sys\n\n\ndef add(a, b):\n    sys.exit(0)\n",
     "exited before the tests finished (sys.exit(0) or raise SystemExit)"),
    ("import sys\nsys.exit()\n", "exited before the tests finished (sys.exit() or raise SystemExit)"),
    ("def add(a, b):\n    raise SystemExit(2)\n", "exited before the tests finished (sys.exit(2) or raise SystemExit)"),
    ("import os\n\n\ndef add(a, b):\n    os._exit(0)\n", "exited before the tests finished (os._exit(0))"),
])
def test_an_early_exit_says_how_the_program_left(verifier, code, message):
    assert rejection(verifier, code) == ("early_exit", message)


def test_an_exit_with_another_status_says_it_too(verifier):
    assert rejection(verifier, "import os\n\n\ndef add(a, b):\n    os._exit(3)\n") == (
        "killed", "exited with status 3 before the tests finished (os._exit(3), or a crash)")


def test_the_sandbox_on_its_own_says_it_without_the_numbers():
    """``Sandbox.run`` does not hand its limits to the verdict: the message names the setting only."""
    box = Sandbox(SandboxLimits(timeout_s=1.0))
    try:
        result = box.run("import time\ntime.sleep(30)\n")
    finally:
        box.close()
    assert (result.reason, result.message) == ("timeout", "ran past its wall-clock limit (timeout_s)")
    assert result.error.startswith(result.message)


def test_a_long_stderr_keeps_the_message_first(verifier):
    reason, first = rejection(verifier, "import sys, time\nsys.stderr.write('noise\\n' * 500)\n\n\n"
                                        "def add(a, b):\n    time.sleep(30)\n")
    assert (reason, first) == ("timeout", "ran past the 1 s wall clock (timeout_s)")


# 2. Printing past the file-size limit says it was the printed output, and which setting to raise.

def test_printing_past_the_file_size_limit_says_it_was_the_output(verifier):
    reason, first = rejection(verifier, "def add(a, b):\n    print('x' * (2 * 1024 * 1024))\n    return a + b\n")
    assert (reason, first) == (
        "file_size_limit", "its printed output (stdout/stderr) went past the 1 MB file-size limit: print less, or "
                           "raise file_size_mb")


def test_a_file_past_the_limit_names_the_setting_and_does_not_blame_printing_alone(verifier):
    reason, first = rejection(verifier, "def add(a, b):\n    with open('big', 'w') as f:\n"
                                        "        f.write('x' * (2 * 1024 * 1024))\n    return a + b\n")
    assert reason == "file_size_limit"
    assert first.startswith("a write went past the 1 MB file-size limit (file_size_mb): a file the program wrote")


def test_without_the_audit_hook_the_message_does_not_guess():
    """No hook, no note of the files written: the message names both possible writers."""
    box = Sandbox(SandboxLimits(file_size_mb=1), isolation_mode="none", audit=False)
    try:
        result = box.run("print('x' * (2 * 1024 * 1024))\n")
    finally:
        box.close()
    assert result.reason == "file_size_limit"
    assert result.message == ("a write went past the file-size limit (file_size_mb); printed output (stdout/stderr) "
                              "counts: print less, or raise file_size_mb")


# 3. A process pool is process creation, refused like any other.

@pytest.mark.parametrize("code", [
    "import multiprocessing\n\n\ndef add(a, b):\n    with multiprocessing.Pool(2) as pool:\n"
    "        return sum(pool.map(abs, [a, b]))\n",
    "from multiprocessing import Pool\n\n\ndef add(a, b):\n    with Pool(2) as pool:\n        return a + b\n",
    "import multiprocessing\n\n\ndef add(a, b):\n    pool = multiprocessing.get_context('spawn').Pool(2)\n"
    "    return a + b\n",
    "from concurrent.futures import ProcessPoolExecutor\n\n\ndef add(a, b):\n"
    "    with ProcessPoolExecutor(2) as pool:\n        return pool.submit(sum, [a, b]).result()\n",
])
def test_a_process_pool_is_forbidden_process(verifier, code):
    reason, first = rejection(verifier, code)
    assert reason == "forbidden_process" and first.startswith("blocked: "), first


def test_an_os_error_the_program_raises_is_no_process_pool(verifier):
    assert rejection(verifier, "def add(a, b):\n    raise OSError(30, 'Read-only file system')\n")[0] == \
        "runtime_error"


def test_a_thread_pool_is_not_called_process_creation(verifier):
    """multiprocessing's ThreadPool needs a semaphore too: where the sandbox has none (bubblewrap) it fails
    as a runtime error that says why, elsewhere it passes; never ``forbidden_process``."""
    text = ("```python\nfrom multiprocessing.pool import ThreadPool\n\n\ndef add(a, b):\n"
            "    with ThreadPool(2) as pool:\n        return sum(pool.map(abs, [a, b]))\n```")
    verdict = verifier.check(candidate_for(text))
    if not verdict.keep:
        assert verdict.reason == "runtime_error", verdict
        assert "need a semaphore in /dev/shm" in verdict.evidence["error"].splitlines()[0]


# 4. Code on the fence's own line is extracted when it is unambiguous.

@pytest.mark.parametrize("text, code", [
    ("```python def add(a, b): return a + b```", "def add(a, b): return a + b\n"),
    ("```py def add(a, b): return a + b```\n", "def add(a, b): return a + b\n"),
    ("Here it is: ```python def add(a, b): return a + b``` (one line).", "def add(a, b): return a + b\n"),
    ("```def add(a, b): return a + b```", "def add(a, b): return a + b\n"),
    ("```python def add(a, b): return a + b\n```", "def add(a, b): return a + b\n"),
    ("```python def add(a, b):\n    return a + b\n```\nThis adds.", SOLUTION),
    ("```def add(a, b):\n    return a + b\n```", SOLUTION),
    ("Sure: ```python def add(a, b):\n    return a + b\n```", SOLUTION),
    ("1. Code:\n   ```python def add(a, b):\n       return a + b\n   ```\n", SOLUTION),
    ("```python def add(a, b):\n    return a + b", "def add(a, b):\n    return a + b"),  # truncated
])
def test_code_on_the_fence_line_is_extracted(text, code):
    assert extract_code(text) == code
    assert extract_code(text, "fenced") == code


@pytest.mark.parametrize("text, code", [
    ('```python title="add.py"\n' + SOLUTION + "```\n", SOLUTION),  # an info string, not code
    ("Use ```add``` like this:\n```python\n" + SOLUTION + "```\n", SOLUTION),
    ("Remember ```import math``` first:\n```python\n" + SOLUTION + "```\n", SOLUTION),
    ('def fenced():\n    return "```python def f(): pass```"\n',  # a program: the fence is in a string
     'def fenced():\n    return "```python def f(): pass```"\n'),
    ("Say ```import math``` and then sum them.", "Say ```import math``` and then sum them."),  # prose, raw
])
def test_fence_lines_that_are_not_unambiguous_code_are_left_alone(text, code):
    assert extract_code(text) == code


def test_a_one_line_fenced_answer_passes(verifier):
    verdict = verifier.check(candidate_for("The answer: ```python def add(a, b): return a + b```"))
    assert verdict.keep, verdict


# A real-time signal has no ``signal.Signals`` member: naming it once made the verdict raise.

def test_a_program_killed_by_a_real_time_signal_is_rejected_with_its_name(verifier):
    reason, first = rejection(verifier, "import signal\n\n\ndef add(a, b):\n    signal.raise_signal(40)\n")
    assert reason == "killed" and "SIGRTMIN+6" in first, first
