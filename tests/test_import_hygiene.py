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
