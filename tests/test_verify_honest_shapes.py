"""Honest answers the sandbox's guards and the code extraction used to reject: a chat model's whole function
under the HumanEval template, fenced code in the shapes chat models write, and guard messages that say what
to do. The attacks the guards exist for stay rejected (``test_sandbox_attacks.py``; HumanEval/38's
``encode_cyclic`` here)."""

from __future__ import annotations

import __future__
import ast

import pytest

from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify.execution import HUMAN_EVAL_PROGRAM, CodeExecutionVerifier
from synthgen.verify.extract import extract_code, fenced_blocks
from synthgen.verify.sandbox import PRELUDE_DEFINITIONS

TEST = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"
SOLUTION = "def add(a, b):\n    return a + b\n"
CYCLIC_PROMPT = '''def encode_cyclic(s: str):
    """Cycle each group of three characters."""
    groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
    groups = [(group[1:] + group[0]) if len(group) == 3 else group for group in groups]
    return "".join(groups)


def decode_cyclic(s: str):
    """Take a string encoded with encode_cyclic and return the decoded string."""
'''
CYCLIC_TEST = '''

def check(candidate):
    for word in ["abcdef", "hello world", "xy"]:
        assert candidate(encode_cyclic(word)) == word
'''
CYCLIC_SOLUTION = "    return encode_cyclic(encode_cyclic(s))\n"


def prelude(flags: int = 0) -> dict:
    """The prelude's definitions (``_sandbox_boundary.py`` runs inside them), compiled with ``flags``."""
    namespace: dict = {}
    exec(compile(PRELUDE_DEFINITIONS, "<prelude>", "exec", flags=flags, dont_inherit=True), namespace)
    return namespace


def candidate_for(text: str, prompt: str = "", test: str = TEST, entry_point: str = "add") -> Candidate:
    seed = Seed(0, {"prompt": prompt, "test": test, "entry_point": entry_point})
    return Candidate(GenerationRequest(0, prompt, seed, 0), 0, text, 10)


@pytest.fixture(scope="module")
def chat() -> CodeExecutionVerifier:
    """The recipe defaults: the HumanEval template and ``extract = "auto"``."""
    return CodeExecutionVerifier(program=HUMAN_EVAL_PROGRAM, extract="auto", timeout_s=5.0, workers=1,
                                 isolation="none")


@pytest.fixture(scope="module")
def code_only() -> CodeExecutionVerifier:
    return CodeExecutionVerifier(program="{code}\n{test}\ncheck({entry_point})\n", extract="auto",
                                 timeout_s=5.0, workers=1, isolation="none")


# 1. A chat answer repeats the function the prompt only declares.

@pytest.mark.parametrize("stub", ['    """Return a + b."""\n', "    pass\n", "    ...\n",
                                  "    raise NotImplementedError\n",
                                  '    import math\n    """Return a + b (HumanEval/115\'s shape)."""\n'])
def test_a_chat_answer_may_rebind_the_function_the_prompt_only_declares(chat, stub):
    prompt = "from typing import List\n\n\ndef add(a: int, b: int) -> int:\n" + stub
    fenced = "Here is the implementation:\n```python\nfrom typing import List\n\n\n" + SOLUTION + "```\n"
    for text in (fenced, SOLUTION):
        verdict = chat.check(candidate_for(text, prompt))
        assert verdict.keep, verdict


def test_a_chat_answer_may_repeat_a_constant_of_the_prompt(chat):
    """HumanEval/64's prompt starts with ``FIX = \"\"\"…\"\"\"``; a chat answer repeats the whole prompt."""
    prompt = 'FIX = """\nAdd more test cases.\n"""\n\ndef add(a, b):\n    """Return a + b."""\n'
    verdict = chat.check(candidate_for(f"```python\n{prompt}    return a + b\n```\n", prompt))
    assert verdict.keep, verdict


def test_the_human_eval_38_shape_passes_honestly_and_rejects_a_rebound_helper(chat):
    honest_chat = f"```python\n{CYCLIC_PROMPT}{CYCLIC_SOLUTION}```\n"
    attack = "    return s\n\n\ndef encode_cyclic(s):\n    return s\n"
    attack_chat = "```python\ndef encode_cyclic(s):\n    return s\n\n\ndef decode_cyclic(s):\n    return s\n```\n"
    verdicts = [chat.check(candidate_for(text, CYCLIC_PROMPT, CYCLIC_TEST, "decode_cyclic"))
                for text in (CYCLIC_SOLUTION, honest_chat, attack, attack_chat)]
    assert [v.keep for v in verdicts] == [True, True, False, False], verdicts
    assert [v.reason for v in verdicts[2:]] == ["tampered_builtins", "tampered_builtins"]
    assert "the code rebinds encode_cyclic" in verdicts[3].evidence["error"]


@pytest.mark.parametrize("prompt, stubs", [
    ('def f():\n    """Doc."""\n\n\ndef g():\n    return 1\n', {"f"}),
    ("def f():\n    pass\n\n\nf = len\n", set()),  # bound again by the prompt: protected
    ("def f():\n    pass\n\n\nfor f in [len]:\n    pass\n", set()),
    ("def f():\n    x = 1\n", set()),
    ("class Solution:\n    '''Doc.'''\n\n    def solve(self, xs):\n        ...\n", {"Solution"}),
    ("class Solution:\n    LIMIT = 3\n\n    def solve(self, xs):\n        ...\n", set()),
    ("def f():\n    raise ValueError\n", set()),
    ("@decorate\ndef f():\n    pass\n", {"f"}),
])
def test_prompt_stubs_are_functions_with_nothing_but_a_declaration(prompt, stubs):
    assert prelude()["_prompt_stubs"](ast.parse(prompt).body) == stubs


def test_the_program_does_not_inherit_the_preludes_future_flags():
    """Where the prelude is compiled with ``from __future__ import annotations``, ``_compile`` must not hand
    the flag on to the program (``def f(x: List[int])`` ran without ``List``)."""
    compile_program = prelude(__future__.annotations.compiler_flag)["_compile"]
    program = compile_program("def f(x: List[int]):\n    pass\n", None, 2)
    with pytest.raises(NameError, match="List"):
        exec(program["codes"][1], {})


# 2. Fenced code in the shapes chat models write.

@pytest.mark.parametrize("text", [
    "Usage:\n```python\n>>> add(1, 2)\n3\n```\nCode:\n```python\n" + SOLUTION + "```\n",
    "1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n2. Done.\n",
    "Use ```add``` like this:\n```python\n" + SOLUTION + "```\n",
    "~~~python\n" + SOLUTION + "~~~\n",
    "Here it is: ```python\n" + SOLUTION + "```\nDone.",
])
def test_the_solution_block_is_found(text):
    assert extract_code(text) == SOLUTION


def test_three_backticks_inside_the_code_do_not_close_the_block():
    code = "def add(a, b):\n    fence = '```'\n    return a + b\n"
    assert fenced_blocks(f"```python\n{code}```\nDone.") == [("python", code)]


def test_a_helper_and_the_function_in_separate_blocks_are_joined(code_only):
    helper = "def helper(a, b):\n    return a + b\n"
    main = "def add(a, b):\n    return helper(a, b)\n"
    text = f"First a helper:\n```python\n{helper}```\nThen:\n```python\n{main}```\n"
    assert extract_code(text) == helper + main
    assert code_only.check(candidate_for(text)).keep


@pytest.mark.parametrize("later", [
    "print(add(1, 2))  # 3\n",  # a usage example runs something: not joined
    "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",  # the solution as a module
    "import pytest\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",  # tests only
    "import unittest\n\n\nclass TestAdd(unittest.TestCase):\n    def test_add(self):\n"
    "        self.assertEqual(add(1, 2), 3)\n\n\nif __name__ == '__main__':\n    unittest.main()\n",
])
def test_examples_and_tests_after_the_solution_are_left_out(later):
    assert extract_code(f"```python\n{SOLUTION}```\nExample:\n```python\n{later}```\n") == SOLUTION


def test_a_function_body_block_is_kept_before_a_usage_example():
    body = "    return a + b\n"
    assert extract_code(f"```python\n{body}```\nUsage:\n```python\nprint(add(1, 2))\n```\n") == body


def test_an_unclosed_block_still_ends_at_a_fence_after_its_last_line():
    assert extract_code("```python\ndef add(a, b):\n    return a + b```\nThis adds.") == (
        "def add(a, b):\n    return a + b")


# 3. Guard messages say what to do.

def test_a_non_plain_return_says_how_to_allow_it(code_only):
    text = "```python\nfrom collections import OrderedDict\n\n\ndef add(a, b):\n    return OrderedDict(a=a + b)\n```"
    verdict = code_only.check(candidate_for(text))
    assert verdict.reason == "non_plain_return"
    assert "add() returned a value of type OrderedDict, not plain data" in verdict.evidence["error"]
    assert 'guards_off = {non_plain_return = "why"}' in verdict.evidence["error"]


def test_a_thread_left_running_says_to_join_it(code_only):
    text = ("```python\nfrom concurrent.futures import ThreadPoolExecutor\n\nPOOL = ThreadPoolExecutor(2)\n\n\n"
            "def add(a, b):\n    return POOL.submit(lambda: a + b).result()\n```")
    verdict = code_only.check(candidate_for(text))
    assert verdict.reason == "tampered_builtins"
    assert "a thread the code started is still running" in verdict.evidence["error"]
    assert "join it" in verdict.evidence["error"] and "shutdown(wait=True)" in verdict.evidence["error"]
