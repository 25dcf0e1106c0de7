"""`import synthgen` (and the CLI module) must stay light: no vllm, torch, datasets or scikit-learn."""

import subprocess
import sys

HEAVY = ("vllm", "torch", "datasets", "sklearn", "transformers", "sentence_transformers")


def loaded_modules(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_import_synthgen_is_light():
    assert not loaded_modules("import synthgen") & set(HEAVY)


def test_cli_and_recipe_modules_are_light():
    assert not loaded_modules("import synthgen.cli, synthgen.recipe, synthgen.api, synthgen.backends") & set(HEAVY)


def test_the_cli_imports_component_commands_only_when_named():
    """``synthgen generate`` must not pay for dedup, evolve (pandas) and the other component commands."""
    loaded = loaded_modules("import synthgen.cli")
    assert not loaded & {"pandas", "numba", "pyarrow"}
    code = "import sys, synthgen.cli; print('\\n'.join(m for m in sys.modules if m.startswith('synthgen.')))"
    modules = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not {"synthgen.dedup.cli", "synthgen.evolve.cli", "synthgen.publish.cli"} & set(modules)
