"""Reward-hack guards of the sandbox child (part of the prelude; see ``_sandbox_prelude.py``).

At the boundary between the candidate's code and the tests, the tests get their own copy of the program's
globals in which every callable the program bound is a guarded call. The guarded call checks, before the
value reaches the test:

- ``non_plain_return``: the value is plain data (bool, int, float, complex, str, bytes, None and lists,
  tuples, dicts, sets of them, recursively); a subclass is plain only when it adds no dunder and overrides
  no method of its plain base (so no lying ``__eq__``, ``__hash__``, ``__abs__``, ``lower``…);
- ``tampered_builtins``: the builtins, the program's ``__builtins__`` and every name the tests or the
  prompt bound (plus every builtin's name, so a module-level ``abs`` cannot shadow one) are what they were,
  in the tests' namespace and in the program's own (which the prompt's helpers read),
  no audit/gc callback was added and no thread outlived the call.

The guarded call is a bound method of a global-free function over an immutable tuple: the program can
hold it but can change neither its code (the hook kills on ``__code__``/``__defaults__`` writes) nor its
state. Functions here reference no global name (a test checks the bytecode); everything arrives in ``ctx``.
"""

SAFE_CLASS_NAMES = frozenset({"__module__", "__qualname__", "__doc__", "__slots__", "__dict__", "__weakref__",
                              "__annotations__", "__new__", "__init__", "__getnewargs__", "__match_args__",
                              "__orig_bases__", "__parameters__"})
CTX_FIELDS = ("plain_types", "base_names", "type_", "str_", "safe_names", "id_", "containers", "dict_",
              "builtins_dict", "snapshot", "protected", "missing", "thread_count", "gc_callbacks",
              "module_builtins", "ns", "check_plain", "check_tamper", "report",
              "type_name", "is_plain", "tampered", "plain_base", "getsignal", "signal_handlers", "watched_modules", "modules",
              "program_ns", "getset_descriptor", "module_type", "module_dict", "sleep")


def _plain_base(t, ctx):
    """The plain type instances of ``t`` behave as, or None: ``t`` itself when exact, else its plain base
    when ``t`` (metaclass ``type``) adds no dunder and shadows no attribute of that base."""
    (plain_types, base_names, type_, str_, safe_names, *_rest) = ctx
    if type_(t) is not type_:
        return None
    if t in plain_types:
        return t
    mro = type_.__dict__["__mro__"].__get__(t)
    index = 0
    for base in plain_types:
        if base in mro:
            break
        index += 1
    else:
        return None
    base_mro = type_.__dict__["__mro__"].__get__(base)
    position = 0
    for cls in mro:
        if cls is base:  # what follows must be the base's own MRO: a mixin after it supplies dunders too
            if mro.__len__() - position != base_mro.__len__():
                return None
            offset = 0
            while offset < base_mro.__len__():
                if mro[position + offset] is not base_mro[offset]:
                    return None
                offset += 1
            return base
        position += 1
        for name in type_.__dict__["__dict__"].__get__(cls):
            if type_(name) is not str_:
                return None
            if name not in safe_names and (name.startswith("__") or name in base_names[index]):
                return None
    return base


def _is_plain(value, ctx):
    """Walk ``value`` (iteratively, each container once) and say whether all of it is plain data. An
    instance of a plain subclass must hold no attributes of its own: one named like a method of its base
    (``s.__dict__["split"] = ...``) would answer for it. Its dict is read through each class's own
    ``__dict__`` slot descriptor (C code), never through a ``__dict__`` the program defined instead."""
    (_pt, _bn, type_, _s, _sn, id_, containers, dict_, *_rest) = ctx
    plain_base, getset = ctx[22], ctx[28]
    stack, seen = [value], {}
    while stack:
        item = stack.pop()
        kind = type_(item)
        base = plain_base(kind, ctx)
        if base is None:
            return False
        for cls in (type_.__dict__["__mro__"].__get__(kind) if kind is not base else ()):
            if cls is base:
                break
            entry = type_.__dict__["__dict__"].__get__(cls).get("__dict__")
            if entry is not None and (type_(entry) is not getset or dict_.__len__(getset.__get__(entry, item, cls))):
                return False
        if base not in containers or id_(item) in seen:
            continue
        seen[id_(item)] = True
        if base is dict_:
            stack.extend(dict_.keys(item))
            stack.extend(dict_.values(item))
        else:
            stack.extend(base.__iter__(item))
    return True


def _tampered(ns, before, ctx):
    """A line saying what was tampered with (absolute state, and ``before`` for the protected globals)."""
    (_pt, _bn, type_, str_, _sn, _id, _c, _d, builtins_dict, snapshot, protected, missing, thread_count,
     gc_callbacks, module_builtins, *_rest) = ctx
    # Threads first: a pool's workers end just after its with block (multiprocessing's ThreadPool does not
    # join them), so a correct program was rejected when the machine was busy. Waiting for them (0.5 s at
    # most) before every check below means those checks also see whatever the threads did.
    sleep, waited = ctx[31], 0
    while waited < 50 and thread_count():  # no builtins here (no global names): a counter, not range()
        sleep(0.01)
        waited += 1
    if builtins_dict.__len__() != snapshot.__len__():
        return "builtins gained or lost a name"
    watched, modules, module_type, module_dict = ctx[25], ctx[26], ctx[29], ctx[30]
    for _name, module, _attributes, _classes in watched:  # a module's class swapped answers its lookups
        if type_(module) is not module_type:
            return f"the class of module {_name} was replaced"
    spaces = [builtins_dict, ns, modules]
    for _name, module, _attributes, _classes in watched:
        spaces.append(module_dict.__get__(module))
    for space in spaces:
        for key in space:  # before any lookup: a key that only hashes like a name runs its __eq__ there
            if type_(key) is not str_:
                return "a namespace holds a non-str name"
    for name, obj in snapshot:
        if builtins_dict.get(name, missing) is not obj:
            return f"builtins.{name} was replaced"
    if ns.get("__builtins__", missing) is not module_builtins:
        return "__builtins__ was replaced"
    for name in protected:
        if ns.get(name, missing) is not before.get(name, missing):
            return f"global {name} was rebound"
    if gc_callbacks.__len__():
        return "a gc callback was added"
    if thread_count():
        return ("a thread the code started is still running (the guard counts that as tampering: join it, or "
                "use the pool in a with block or call its shutdown(wait=True), before the call returns)")
    getsignal, handlers = ctx[23], ctx[24]
    for number, handler in handlers:
        if getsignal(number) is not handler:
            return f"the handler of signal {number} was replaced"
    for name, module, attributes, classes in watched:
        if modules.get(name, missing) is not module:
            return f"sys.modules[{name!r}] was replaced"
        space = module_dict.__get__(module)
        for attribute, value in attributes:
            if space.get(attribute, missing) is not value:
                return f"{name}.{attribute} was replaced"
        for cls, items in classes:
            own = type_.__dict__["__dict__"].__get__(cls)
            if own.__len__() != items.__len__():
                return f"{name}.{type_.__dict__['__name__'].__get__(cls)} gained or lost an attribute"
            for attribute, value in items:
                if own.get(attribute, missing) is not value:
                    return f"{name}.{type_.__dict__['__name__'].__get__(cls)}.{attribute} was replaced"
    return ""


def _guarded_call(bound, /, *args, **kwargs):
    """Call the wrapped callable and check what comes back (see module doc). Only the tests' namespace
    holds guarded calls: the program's own functions keep calling each other directly. Every lookup in a
    namespace the program can write comes after a check that its keys are exact ``str`` (a key hashing
    like a protected name would run the program's ``__eq__`` inside the lookup), and the plain-data check
    comes last: nothing of the program runs between it and the ``return``."""
    target, name, ctx = bound
    (_pt, _bn, type_, str_, _sn, _id, _c, _d, _bd, _snap, protected, missing, _tc, _gc, _mb,
     ns, check_plain, check_tamper, report, type_name, is_plain, tampered, *_rest) = ctx
    program_ns = ctx[27]
    before, before_program = {}, {}
    if check_tamper:
        for space in (ns, program_ns):
            for key in space:
                if type_(key) is not str_:
                    report("tampered_builtins", f"before {name}(): a global with a non-str name")
        for key in protected:
            before[key] = ns.get(key, missing)
            before_program[key] = program_ns.get(key, missing)
    result = target(*args, **kwargs)
    if check_tamper:
        problem = tampered(ns, before, ctx)
        for key in program_ns:
            if not problem and type_(key) is not str_:
                problem = "the program's globals hold a non-str name"
        for key in protected:
            if not problem and program_ns.get(key, missing) is not before_program[key]:
                problem = f"the program's global {key} was rebound"
        if problem:
            report("tampered_builtins", f"after {name}(): {problem}")
    if check_plain and not is_plain(result, ctx):
        report("non_plain_return", f"{name}() returned a value of type {type_name(type_(result))}, not plain "
               "data (if the tests compare such values on purpose, turn the guard off with a reason: "
               'guards_off = {non_plain_return = "why"} on the code_execution verifier)')
    return result


def _report_guard(bound, kind, detail):
    """Write ``violation guard <kind> <detail>`` on the status descriptor and end the process at once."""
    write, exit_, fd, code = bound
    try:
        write(fd, f"violation guard {kind} {detail}"[:1000].encode("utf-8", "replace") + b"\n")
    finally:
        exit_(code)


def _refuse(bound, /, *args, **kwargs):
    """Stands in for a function the sandbox refuses with an ordinary exception, ``bound = (type, message)``
    (``_imp.create_builtin`` once every builtin module is imported, ``signal.signal``)."""
    raise bound[0](bound[1])
