"""The multi-generation loop on the scripted backend: a run scripted to collapse is stopped at the
generation where it degrades, with the reason in the report; a healthy run is not stopped."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from click.testing import CliRunner

from synthgen.backends.testing import ScriptedBackend
from synthgen.cli import cli
from synthgen.evolve import evolve
from synthgen.evolve.stoprule import best_generation, should_stop
from synthgen.lineage import Ledger
from synthgen.recipe.schema import ScriptedBackendConfig

TARGET = 60


def pool() -> list[str]:
    import random

    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 8 <= len(s.split()) <= 30][:1500]
    random.Random(1).shuffle(found)
    return found


RECIPE = """
[recipe]
name = "loop"
seed = 3

[seeds]
type = "grid"
axes = {{ topic = ["a", "b", "c"] }}

[prompt]
template = "{{examples}}\\nTopic {{topic}}:"
[prompt.few_shot]
path = "real.jsonl"
k = 2

[generation]
target = {target}
max_candidates = {budget}
batch_size = {target}
[generation.backend]
type = "scripted"

[evolve]
feed = "few_shot"
generations = 4
reference = "heldout.jsonl"
"""


@pytest.fixture
def project(tmp_path):
    sentences = pool()
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[:50]))
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[50:350]))
    recipe = tmp_path / "loop.toml"
    recipe.write_text(textwrap.dedent(RECIPE.format(target=TARGET, budget=TARGET)))
    return recipe, sentences[350:]


def collapsing(sentences: list[str]):
    """Generation k repeats only TARGET / 2**(k-1) distinct texts: the tail disappears."""
    def factory(k: int) -> ScriptedBackend:
        distinct = max(1, TARGET // 2 ** (k - 1))
        start = k * TARGET
        return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=sentences[start:start + distinct]))
    return factory


def healthy(sentences: list[str]):
    """Every generation writes fresh text from the same distribution as the real data."""
    def factory(k: int) -> ScriptedBackend:
        start = k * TARGET
        return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=sentences[start:start + TARGET]))
    return factory


def test_collapse_is_detected_and_stopped_with_the_reason(project):
    recipe, sentences = project
    result = evolve(recipe, backend_factory=collapsing(sentences), progress=False)
    assert [g["id"] for g in result.generations] == ["gen-1", "gen-2"]
    assert result.stop_reason.startswith("generation 2:") and "below its best" in result.stop_reason
    assert result.best == "gen-1"
    report = (result.project / "report.md").read_text()
    assert "generation 2:" in report and "distinct_2" in report and (result.project / "collapse.png").exists()
    page = (result.project / "report.html").read_text()
    assert "Across generations" in page and "data:image/png" in page
    ledger = Ledger.open(result.project)
    assert ledger.best_id == "gen-1" and ledger.get("gen-2").parents == ("gen-1",)
    assert ledger.get("gen-2").depth == 2 and ledger.get("real").depth == 0


def test_healthy_generations_are_not_stopped(project):
    recipe, sentences = project
    result = evolve(recipe, backend_factory=healthy(sentences), progress=False)
    assert result.stop_reason is None, result.generations[-1]["measures"]
    assert len(result.generations) == 4
    feed = (result.project / "gen-3-feed.jsonl").read_text().splitlines()
    assert len(feed) == 50 + TARGET, "the few-shot pool keeps all real rows and adds the generation's records"


def test_evolve_command(project):
    recipe, sentences = project
    runner = CliRunner()
    result = runner.invoke(cli, ["evolve", str(recipe), "--generations", "1", "--quiet",
                                 "--set", 'generation.backend.outputs=["one two three four five six"]'])
    assert result.exit_code == 0, result.output
    assert "gen-1:" in result.output and "best generation: gen-1" in result.output


def test_stop_rule_is_pure_and_explains_itself():
    steady = [{"d": 1.0}, {"d": 0.995}, {"d": 1.01}]
    assert not should_stop(steady).stop
    falling = [{"d": 1.0}, {"d": 0.99}, {"d": 0.98}]
    decision = should_stop(falling, tolerance=0.015)
    assert decision.stop and "worsened 2 generations in a row" in decision.reason
    assert not should_stop(falling, tolerance=0.015, noise={"d": 0.05}).stop, "within the noise floor"
    drop = should_stop([{"d": 1.0}, {"d": 0.9}])
    assert drop.stop and "below its best" in drop.reason and drop.best == 0
    assert best_generation([{"d": None}, {"d": 0.5}]) == 1


def test_generator_feed_trains_the_next_model_on_the_mix(project, tmp_path):
    """feed = 'generator': train_command runs on each generation's data, and the next generation's
    recipe names the model folder it wrote (the scripted backend stands in for that model)."""
    import sys

    recipe, sentences = project
    trainer = tmp_path / "train.py"
    trainer.write_text("import sys, pathlib\n"
                       "data, out = sys.argv[1], pathlib.Path(sys.argv[2])\n"
                       "out.mkdir(parents=True)\n"
                       "(out / 'trained_on.txt').write_text(data)\n")
    text = recipe.read_text().replace('feed = "few_shot"', 'feed = "generator"\n'
                                      f'train_command = "{sys.executable} {trainer} {{data}} {{model_dir}}"')
    recipe.write_text(text.replace('type = "scripted"', 'type = "vllm"'))
    result = evolve(recipe, generations=2, backend_factory=healthy(sentences), progress=False)
    model = result.project / "model-2"
    assert (model / "trained_on.txt").read_text().endswith("gen-1/data.parquet")
    manifest = json.loads((result.project / "gen-2" / "manifest.json").read_text())
    assert manifest["recipe"]["generation"]["backend"]["model"] == str(model)
    assert manifest["recipe"]["recipe"]["depth"] == 2


def test_generator_feed_needs_a_train_command(project):
    from synthgen.errors import RecipeError

    recipe, _ = project
    recipe.write_text(recipe.read_text().replace('feed = "few_shot"', 'feed = "generator"'))
    with pytest.raises(RecipeError, match="evolve: feed = 'generator' needs train_command"):
        evolve(recipe, progress=False)


def test_a_mix_cap_above_the_recursive_default_is_refused_before_generation_1(project):
    from synthgen.errors import RecipeError

    recipe, _ = project
    recipe.write_text(recipe.read_text() + '\n[mix]\nreal = "real.jsonl"\nmax_synthetic_share = 0.4\n')
    with pytest.raises(RecipeError, match=r"loop.toml:mix: mix.max_synthetic_share = 0.4 is above the default cap "
                                          r"0.3") as caught:
        evolve(recipe, progress=False)
    assert "mix.override_reason" in caught.value.hint
    assert not (recipe.parent / "runs").exists()  # nothing ran
    recipe.write_text(recipe.read_text().replace("max_synthetic_share = 0.4", "max_synthetic_share = 0.4\n"
                                                 "override_reason = 'a test of the loop'"))
    assert evolve(recipe, generations=1, progress=False).generations


def test_an_edited_recipe_on_an_evolve_project_names_evolves_own_options(project):
    from synthgen.errors import RunDirError

    recipe, _ = project
    evolve(recipe, generations=1, progress=False)
    recipe.write_text(recipe.read_text().replace("seed = 3", "seed = 4"))
    with pytest.raises(RunDirError, match="holds a run of a different recipe") as caught:
        evolve(recipe, generations=1, progress=False)
    assert "--project DIR" in caught.value.hint and "--overwrite" not in caught.value.hint


def test_remediated_sampling_carries_into_the_next_generation(project):
    recipe, sentences = project
    gate = ('\n[diversity]\nembedder = "tfidf"\ntfidf_components = 32\nreference = "heldout.jsonl"\n'
            'near_duplicate_threshold = false\n[diversity.gate]\nclusters = 3\n[diversity.remediation]\nbudget = 2\n')
    recipe.write_text(recipe.read_text().replace("max_candidates = 60", "max_candidates = 180") + gate)
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(TARGET)]

    def factory(k: int) -> ScriptedBackend:
        fresh = sentences[k * 2 * TARGET:(k * 2 + 1) * TARGET]
        outputs = narrow + fresh if k == 1 else fresh
        return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=outputs))

    result = evolve(recipe, generations=2, backend_factory=factory, progress=False)
    first = json.loads((result.project / "gen-1" / "report.json").read_text())
    assert first["gates_passed"] and first["final_sampling"]["temperature"] > 1.0
    second = json.loads((result.project / "gen-2" / "manifest.json").read_text())
    assert second["recipe"]["generation"]["sampling"]["temperature"] == first["final_sampling"]["temperature"]


def as_steps(recipe) -> None:
    """The fixture's recipe as [[steps]]: the question step draws the few-shot pool, an answer follows."""
    text = recipe.read_text().replace('[prompt]\ntemplate = "{examples}\\nTopic {topic}:"\n[prompt.few_shot]',
                                      '[[steps]]\ntype = "generate"\nname = "question"\n'
                                      'template = "{examples}\\nTopic {topic}:"\n[steps.few_shot]')
    text = text.replace("[generation]", '[[steps]]\ntype = "generate"\nname = "answer"\n'
                                        'template = "Q: {question}\\nA:"\n\n[generation]')
    assert "[prompt]" not in text
    recipe.write_text(text)


def test_a_steps_recipe_feeds_its_few_shot_step(project):
    """feed = 'few_shot' on a [[steps]] recipe grows the pool of the step that draws it, with that step's
    column (it raised AttributeError on ``recipe.prompt``)."""
    recipe, sentences = project
    as_steps(recipe)
    result = evolve(recipe, generations=2, backend_factory=healthy(sentences), progress=False)
    assert result.stop_reason is None and len(result.generations) == 2
    first = (result.project / "gen-1" / "data.parquet")
    from synthgen.tabular import read_rows

    questions = {row["question"] for row in read_rows(first)}
    feed = [json.loads(line) for line in (result.project / "gen-1-feed.jsonl").read_text().splitlines()]
    fed = [row["text"] for row in feed]
    assert len(fed) == 50 + TARGET and set(fed[50:]) == questions
    assert feed[-1].keys() == {"topic", "text", "id"}, "seed fields, not the provenance column seed_index"
    manifest = json.loads((result.project / "gen-2" / "manifest.json").read_text())
    assert manifest["recipe"]["steps"][0]["few_shot"]["path"] == str(result.project / "gen-1-feed.jsonl")


def test_evolve_on_a_steps_recipe_needs_the_raw_format(project):
    from synthgen.errors import RecipeError

    recipe, _ = project
    as_steps(recipe)
    recipe.write_text(recipe.read_text() + "\n[output]\nformat = 'prompt_completion'\nprompt = 'question'\n")
    with pytest.raises(RecipeError, match=r"output.format: evolve measures and feeds forward the step column 'question'"):
        evolve(recipe, progress=False)


def test_a_steps_recipe_carries_remediated_sampling_into_its_gated_step(project):
    """The gated step's own [steps.sampling] overrides [generation.sampling]: the carried temperature
    goes there (written to [generation.sampling] it was ignored for that step and changed the others)."""
    recipe, sentences = project
    as_steps(recipe)
    gate = ('\n[diversity]\nembedder = "tfidf"\ntfidf_components = 32\nreference = "heldout.jsonl"\n'
            'near_duplicate_threshold = false\n[diversity.gate]\nclusters = 3\n[diversity.remediation]\nbudget = 2\n')
    text = recipe.read_text().replace("max_candidates = 60", "max_candidates = 180")
    text = text.replace('template = "Q: {question}\\nA:"\n', 'template = "Q: {question}\\nA:"\n'
                        '[steps.sampling]\ntemperature = 1.0\n')
    recipe.write_text(text + gate)
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(TARGET)]

    def factory(k: int) -> ScriptedBackend:
        fresh = sentences[k * 2 * TARGET:(k * 2 + 1) * TARGET]
        return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=narrow + fresh if k == 1 else fresh))

    result = evolve(recipe, generations=2, backend_factory=factory, progress=False)
    first = json.loads((result.project / "gen-1" / "report.json").read_text())
    assert first["gates_passed"] and first["final_sampling"]["step"] == "answer"
    assert first["final_sampling"]["temperature"] > 1.0
    second = json.loads((result.project / "gen-2" / "manifest.json").read_text())["recipe"]
    assert second["steps"][1]["sampling"]["temperature"] == first["final_sampling"]["temperature"]
    assert "temperature" not in second["generation"].get("sampling", {}) or \
        second["generation"]["sampling"]["temperature"] != first["final_sampling"]["temperature"]


# --- a noise floor that cannot be measured is n/a, never 0 ------------------------------------------


def clipped(texts: list[str], words: int) -> list[str]:
    return [" ".join(t.split()[:words]) for t in texts]


def test_a_noise_floor_that_cannot_be_measured_is_none_not_zero():
    """8 real texts of 6 words are 48 words: the lexical metrics (200 words) cannot be computed, so the
    floor is not measured; it used to be reported and used as 0.000."""
    from synthgen.evolve.measure import noise_floor

    floor = noise_floor(clipped(pool()[:100], 6), 8, ["distinct_2", "vendi"], embedder=None)
    assert floor.values == {"distinct_2": None, "vendi": None}
    assert "not measured" in floor.notes["distinct_2"] and "need at least 200" in floor.notes["distinct_2"]
    assert floor.unmeasured() == ["distinct_2", "vendi"]


def test_the_lexical_floor_is_measured_again_at_the_generations_word_budget():
    from synthgen.evolve.measure import noise_floor, word_budget_floor

    reference = clipped(pool()[:300], 6)
    floor = noise_floor(reference, 8, ["distinct_2", "vendi"], embedder=None)
    generation = [" ".join(pool()[400 + 3 * i:403 + 3 * i]) for i in range(8)]  # ~8 × 50 words
    wider = word_budget_floor(floor, generation, reference)
    assert wider.values["distinct_2"] is not None and 0.0 <= wider.values["distinct_2"] < 1.0
    assert "word budget" in wider.notes["distinct_2"] and wider.by_words == {"distinct_2"}
    assert wider.values["vendi"] is None, "only the lexical measures depend on the word budget"
    too_small = word_budget_floor(floor, generation, reference[:40])  # 240 words: no real sample of ~400
    assert too_small.values["distinct_2"] is None


def test_the_stop_rule_does_not_judge_a_measure_without_a_noise_floor():
    history = [{"d": 1.0, "e": 1.0}, {"d": 0.9, "e": 1.0}]
    decision = should_stop(history, noise={"d": None, "e": 0.0})
    assert not decision.stop and decision.unjudged == ("d",)
    assert should_stop(history, noise={"d": 0.05, "e": 0.0}).stop, "a measured floor below the drop"
    assert not should_stop(history, noise={"d": 0.2, "e": 0.0}).stop, "within a measured floor"
    assert should_stop(history).stop and should_stop(history).unjudged == (), "no floors: tolerance alone"


def small_reference_project(tmp_path):
    """A reference of 25 ten-word texts and generations of 8 texts of ~50 words: no real sample of 8 texts
    (80 words) nor of a generation's ~400 words can be measured, while the generations' distinct_2 can
    (at 250 words)."""
    sentences = pool()
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences[:50]))
    heldout = clipped([t for t in sentences[50:200] if len(t.split()) >= 10][:25], 10)
    (tmp_path / "heldout.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in heldout))
    recipe = tmp_path / "loop.toml"
    recipe.write_text(textwrap.dedent(RECIPE.format(target=8, budget=8)))
    return recipe, [" ".join(sentences[400 + 3 * i:403 + 3 * i]) for i in range(8)]


def test_evolve_reports_an_unmeasured_floor_as_na_and_does_not_stop_on_it(tmp_path):
    """The collapse of generation 2 used to stop the run at the bare 2% tolerance, the report claiming
    a floor of 0.000."""
    recipe, long = small_reference_project(tmp_path)

    def factory(k: int) -> ScriptedBackend:
        return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=long if k == 1 else long[:2]))

    result = evolve(recipe, generations=2, backend_factory=factory, progress=False)
    second = result.generations[1]
    assert second["measures"]["distinct_2"] < result.generations[0]["measures"]["distinct_2"] * 0.9
    assert result.stop_reason is None and second["unjudged"] == ["distinct_2"]
    assert result.noise["distinct_2"] is None
    report = (result.project / "report.md").read_text()
    assert "distinct_2 n/a" in report and "0.000" not in report.split("| generation")[0]
    assert "not judged (noise floor n/a): distinct_2" in report
    assert json.loads((result.project / "report.json").read_text())["noise_floor"]["distinct_2"] is None


def test_the_evolve_command_notes_a_measure_the_stop_rule_did_not_judge(tmp_path):
    recipe, long = small_reference_project(tmp_path)
    outputs = json.dumps(long)
    result = CliRunner().invoke(cli, ["evolve", str(recipe), "--generations", "1", "--quiet",
                                      "--set", f"generation.backend.outputs={outputs}"])
    assert result.exit_code == 0, result.output
    assert "note: the stop rule did not judge distinct_2" in result.output


# --- a fan-out after the fed step: one feed row (and one measured text) per parent ------------------


def test_a_fan_out_after_the_fed_step_feeds_and_measures_each_parent_once(project, monkeypatch):
    from synthgen.evolve import steps
    from synthgen.tabular import read_rows

    recipe, sentences = project
    as_steps(recipe)
    recipe.write_text(recipe.read_text().replace('template = "Q: {question}\\nA:"\n',
                                                 'template = "Q: {question}\\nA:"\n[steps.sampling]\nn = 2\n'))
    measured: list[list[str]] = []

    def spy(texts, *args, **kwargs):
        measured.append(list(texts))
        return health(texts, *args, **kwargs)

    health = steps.health
    monkeypatch.setattr(steps, "health", spy)
    result = evolve(recipe, generations=1, backend_factory=healthy(sentences), progress=False)
    rows = read_rows(result.project / "gen-1" / "data.parquet")
    parents = {int(row["candidate_index"]) // 2: row["question"] for row in rows}
    assert len(rows) == 2 * len(parents), "every question has its two answers"
    fed = [json.loads(line)["text"] for line in (result.project / "gen-1-feed.jsonl").read_text().splitlines()]
    assert fed[50:] == list(parents.values()), "one few-shot row per question, not one per answer"
    assert measured == [list(parents.values())], "the health measures see each question once"
