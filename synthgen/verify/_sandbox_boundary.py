"""The boundary between the program's code and its tests (part of the prelude; see
``_sandbox_prelude.py``): the program is compiled in three parts (the prompt's statements, the
statements that hold untrusted code, the tests), the prompt's names and the tests' names are recorded, the
standard-library modules the tests use are imported and watched, and at the boundary the tests get their
own namespace of guarded calls (``_sandbox_guards.py``). Standard library only.
"""


def _compile(source, code_lines, status_fd):
    """``(prefix, middle, tail)`` code objects, the trusted code objects and the tests' names. Without
    ``code_lines`` the whole program is the middle. A syntax error is reported and ends the process.
    ``dont_inherit``: the prelude's own ``__future__`` flags must not reach the program (``from __future__
    import annotations`` let ``def f(x: List[int])`` run without ``List``)."""
    if code_lines and "\r" in source:  # Python ends a line at a lone CR; the line numbers count LF only
        _write(status_fd, b"violation guard tampered_builtins a carriage return in the program\n")
        _exit(VIOLATION_EXIT)
    try:
        tree = compile(source, "program.py", "exec", ONLY_AST, dont_inherit=True)
        parts = _split(tree.body, code_lines)
        codes = [compile(type(tree)(body=part, type_ignores=[]), "program.py", "exec", dont_inherit=True)
                 for part in parts[:3]]
    except (SyntaxError, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        _report_error(status_fd, exc, None)
        _exit(ERROR_EXIT)
    trusted = _nested_codes(codes[0]) | _nested_codes(codes[2])
    names = set()
    for code in trusted:
        names.update(code.co_names)
    return _MappingProxy({"codes": tuple(codes), "split": code_lines is not None, "swallowed": parts[3],
                          "trusted": frozenset(trusted), "test_codes": _test_codes(codes, code_lines),
                          "test_names": frozenset(names), "watched": _watch_modules(names) if code_lines else (),
                          "stubs": _prompt_stubs(parts[0])})


def _prompt_stubs(statements):
    """Names the prompt binds only to a stub: a function whose body is docstrings, ``pass``, ``...``, imports
    or ``raise NotImplementedError`` (a class of nothing else), i.e. what the model is asked to write. The code may
    rebind those; a prompt function with a real body (HumanEval/38's ``encode_cyclic``, which the tests call
    for their expected values) stays protected. A name any other prompt statement binds is no stub."""
    stubs, others = set(), set()
    for statement in statements:
        if _is_stub(statement):
            stubs.add(statement.name)
        else:
            others.update(_bound_names(statement))
    return frozenset(stubs - others)


def _is_stub(node):
    kind = type(node).__name__
    if kind in ("FunctionDef", "AsyncFunctionDef"):
        return all(_is_empty(s) for s in node.body)
    if kind == "ClassDef":
        return all(_is_empty(s) or (type(s).__name__ != "ClassDef" and _is_stub(s)) for s in node.body)
    return False


def _is_empty(statement):
    """A docstring, ``pass``, ``...``, ``raise NotImplementedError[(…)]`` or an import (HumanEval/115's
    ``max_fill`` imports ``math`` above its docstring)."""
    kind = type(statement).__name__
    if kind in ("Pass", "Import", "ImportFrom"):
        return True
    if kind == "Expr":
        value = statement.value
        return type(value).__name__ == "Constant" and (type(value.value) is str or value.value is Ellipsis)
    if kind == "Raise" and statement.exc is not None and statement.cause is None:
        raised = statement.exc.func if type(statement.exc).__name__ == "Call" else statement.exc
        return type(raised).__name__ == "Name" and raised.id == "NotImplementedError"
    return False


def _bound_names(statement):
    """Every name a statement may bind, anywhere inside it (an over-estimate is safe: it only keeps a name
    protected)."""
    names, todo = set(), [statement]
    while todo:
        node = todo.pop()
        kind = type(node).__name__
        if kind in ("FunctionDef", "AsyncFunctionDef", "ClassDef"):
            names.add(node.name)
        elif kind == "Name" and type(node.ctx).__name__ != "Load":
            names.add(node.id)
        elif kind == "alias":
            names.add((node.asname or node.name).partition(".")[0])
        elif kind in ("Global", "Nonlocal"):
            names.update(node.names)
        elif kind in ("ExceptHandler", "MatchAs", "MatchStar", "MatchMapping"):
            names.add(getattr(node, "name", None) or getattr(node, "rest", None))
        todo.extend(_child_nodes(node))
    return names - {None}


def _child_nodes(node):
    children = []
    for field in node._fields:
        value = getattr(node, field, None)
        children.extend(v for v in (value if type(value) is list else [value]) if hasattr(v, "_fields"))
    return children


def _test_codes(codes, code_lines):
    """The code objects the program must not read (their constants are the expected answers): the tests'
    (after the untrusted lines), or none when the whole program is untrusted."""
    return frozenset(_nested_codes(codes[2])) if code_lines else frozenset()


def _split(body, code_lines):
    """(prompt's statements, code's, tests', whether the code swallows the start of the tests). A
    statement starts at its first decorator: ``lineno`` of a decorated ``def`` is the ``def`` line, and a
    decorator on the code's last line would otherwise wrap the tests' ``check`` unguarded."""
    if not code_lines:
        return [], body, [], False
    first, last = code_lines
    prefix = [s for s in body if s.end_lineno < first]
    tail = [s for s in body if _first_line(s) > last]
    middle = body[len(prefix):len(body) - len(tail)]
    return prefix, middle, tail, any(s.end_lineno > last for s in middle)


def _first_line(statement):
    return min([statement.lineno, *(d.lineno for d in getattr(statement, "decorator_list", ()))])


def _nested_codes(code):
    found, todo = set(), [code]
    while todo:
        item = todo.pop()
        found.add(item)
        todo.extend(c for c in item.co_consts if type(c) is type(code))
    return found


def _watch_modules(names):
    """``((name, module, ((attribute, value), …), ((class, ((attribute, value), …)), …)), …)`` for the
    standard-library modules the tests (or the prompt) name, imported now, before the program runs: every
    attribute of the module (``random._inst``, ``math.__spec__``, not only the names the tests use), and
    every attribute of the classes it defines (``Random.getrandbits``, ``Counter.__eq__``), plus the
    import system's ``ModuleSpec`` (a property there ran at every import). A program that patches any of
    them, or swaps ``sys.modules['math']``, is caught like one that patches a builtin."""
    watched = []
    for name in sorted(names & frozenset(_sys.stdlib_module_names)):
        if name in BLOCKED_IMPORTS or name in REFUSED_IMPORTS or name.startswith("_"):
            continue
        try:
            module = __import__(name)
        except BaseException:  # noqa: BLE001 - a module that does not import here is not watched
            continue
        attributes = vars(module)
        classes = [v for v in attributes.values() if type(v) is type and _type_flags(v) & HEAP_TYPE
                   and v.__dict__.get("__module__") == name]
        watched.append((name, module, tuple(attributes.items()), _class_snapshots(classes)))
    if watched:
        spec = type(_sys.__spec__)
        watched.append(("sys", _sys, (), _class_snapshots([spec])))
    return tuple(watched)


def _class_snapshots(classes):
    return tuple((cls, tuple(vars(cls).items())) for cls in classes)


def _boundary(ns, program, guards, from_prompt, report):
    """The tests get their own ``__main__`` (a copy of the program's globals) in which every callable the
    prompt or the code bound is a guarded call. Returns that namespace and the guards' context."""
    tamper = guards["tampered_builtins"]
    if tamper:
        _check_code_kept_apart(ns, program, from_prompt, report)
    if not (guards["non_plain_return"] or tamper):
        return ns, None
    tests_ns = vars(type(_sys)("__main__"))  # not in sys.modules: the program must not reach the tests
    tests_ns.update(ns)
    targets = [n for n, v in ns.items() if type(n) is str and not n.startswith("__") and _wants_guard(v)]
    protected = frozenset(targets) | program["test_names"] | frozenset(from_prompt) | _BUILTIN_NAMES
    ctx = _guard_context(tests_ns, program, guards, protected - {"__builtins__"}, report, ns)
    for name in targets:
        tests_ns[name] = _MethodType(GUARDED_CALL, (ns[name], name, ctx))
    return tests_ns, ctx


def _check_code_kept_apart(ns, program, from_prompt, report):
    if program["swallowed"]:
        report("tampered_builtins", "the code swallows the start of the tests")
    for name, value in from_prompt.items():
        now = ns.get(name, _MISSING)
        if now is not value and not name.startswith("__") and name not in program["stubs"] \
                and not _same_function(now, value) and not _same_constant(now, value):
            report("tampered_builtins", f"the code rebinds {name}, which the prompt defined")
    shadows = [n for n in ns if n in _BUILTIN_NAMES and n in program["test_names"] and n not in from_prompt]
    if shadows:
        report("tampered_builtins", f"the code shadows the builtin {shadows[0]} that the tests use")
    problem = TAMPERED(ns, {}, _tamper_only_context(ns, program))
    if problem:
        report("tampered_builtins", f"before the tests: {problem}")


def _same_function(new, old):
    """A completion that repeats a helper of the prompt verbatim (chat models do) rebinds nothing."""
    if type(new) is not _FunctionType or type(old) is not _FunctionType:
        return False
    return new.__defaults__ is None and old.__defaults__ is None and _same_code(new.__code__, old.__code__)


def _same_constant(new, old):
    """A completion that repeats a constant of the prompt (HumanEval/64's ``FIX = \"\"\"…\"\"\"``) rebinds
    nothing: the same exact immutable type and an equal value (compared in C: no code of the program runs)."""
    kind = type(old)
    return type(new) is kind and kind in (str, bytes, int, float, complex, bool, type(None)) and new == old


def _same_code(a, b):
    if (a.co_code, a.co_names, a.co_varnames, len(a.co_consts)) != (b.co_code, b.co_names, b.co_varnames,
                                                                    len(b.co_consts)):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        same = _same_code(x, y) if type(x) is type(a) and type(y) is type(a) else (type(x) is type(y) and x == y)
        if not same:
            return False
    return True


def _wants_guard(value):
    """Callables the program bound, less modules, builtin functions and static (C) types."""
    kind = type(value)
    if not callable(value) or kind is type(len) or kind is type(_sys):
        return False
    return not (isinstance(value, type) and not _type_flags(value) & HEAP_TYPE)


def _guard_context(ns, program, guards, protected, report, program_ns=_MappingProxy({})):
    """The immutable tuple the guarded calls read (field order: ``CTX_FIELDS``). ``program_ns`` is the
    program's own globals, which the prompt's helpers (called by the tests) read: rebinding a protected
    name there is tampering too."""
    return (PLAIN_TYPES, PLAIN_TYPE_NAMES, type, str, SAFE_CLASS_NAMES, id,
            CONTAINERS, dict, vars(_BUILTINS), _BUILTINS_SNAPSHOT, protected, _MISSING, _thread_count,
            _gc_callbacks, _BUILTINS, ns, bool(guards["non_plain_return"]),
            bool(guards["tampered_builtins"]), report, type.__dict__["__qualname__"].__get__, IS_PLAIN, TAMPERED,
            PLAIN_BASE, _getsignal, _SIGNAL_HANDLERS, program.get("watched", ()), _modules, program_ns,
            _GETSET_DESCRIPTOR, _ModuleType, _MODULE_DICT, _sleep)


def _tamper_only_context(ns, program=_MappingProxy({})):
    return _guard_context(ns, program, {"non_plain_return": False, "tampered_builtins": True}, frozenset(), None)
