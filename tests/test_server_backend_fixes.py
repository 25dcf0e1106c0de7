"""The OpenAI-compatible backend against a misbehaving server (each test against a tiny real HTTP server):
a failed read-ahead counts once, invalid replies are one clear line, hints name the backend table that
failed and fit the status, missing usage reads as unknown, and retries keep the root cause."""

from __future__ import annotations

import logging
import textwrap
from types import SimpleNamespace

import pytest

from synthgen.api import run_recipe
from synthgen.backends import build_backend
from synthgen.backends.openai_http import OpenAIBackend, _Aborted, _Retryable
from synthgen.errors import BackendError
from synthgen.plan.model import RecipeContext
from synthgen.readahead import ReadAhead
from synthgen.recipe.schema import OpenAIBackendConfig, SamplingConfig
from tests.test_openai_backend import Reply, make_backend, requests_for, server, texts  # noqa: F401 - fixture

OVERLOADED = Reply(503, {"error": {"message": "overloaded"}})


def always(reply: Reply):
    """A ``reply_for`` that answers every POST with a fresh copy of ``reply``."""
    return lambda body: Reply(reply.status, reply.body, dict(reply.headers), raw=reply.raw)


def config_for(url: str, **overrides) -> OpenAIBackendConfig:
    return OpenAIBackendConfig(type="openai", base_url=url, model="tiny", **overrides)


# --- #3: a failed read-ahead is the run's failure, counted once ----------------------------------------


def test_failed_read_ahead_is_raised_once_not_regenerated_and_stops_reading_ahead(server):
    server.reply_for = always(OVERLOADED)
    readahead = ReadAhead(make_backend(server, concurrency=1, max_retries=1))
    batch0, batch1 = requests_for("a", "b"), requests_for("a", "b", "c", "d")[2:]
    readahead.submit(batch0, SamplingConfig())
    readahead.submit(batch1, SamplingConfig())
    with pytest.raises(BackendError, match="request 0 .* failed after 2 attempts: HTTP 503: overloaded"):
        readahead.generate(batch0, SamplingConfig())
    readahead.close()
    assert len(server.posts) == 2  # batch 0's two attempts: batch 1 never started, batch 0 not sent again


def test_a_failed_read_ahead_of_prompts_no_longer_asked_for_is_dropped(server):
    server.script = [OVERLOADED, OVERLOADED]  # the read-ahead call fails, later calls succeed
    readahead = ReadAhead(make_backend(server, concurrency=1, max_retries=1))
    readahead.submit(requests_for("guessed"), SamplingConfig())
    results = readahead.generate(requests_for("changed"), SamplingConfig())  # same index, another prompt
    readahead.close()
    assert texts(results) == [["changed#0"]]
    assert len(server.posts) == 3


RECIPE = """
[recipe]
name = "hung"
seed = 3

[seeds]
type = "grid"
[seeds.axes]
topic = ["a", "b", "c", "d", "e", "f"]

[prompt]
template = "Write about {{topic}}."

[generation]
target = 6
batch_size = 2

[generation.backend]
type = "openai"
base_url = "{url}"
model = "tiny"
concurrency = 1
max_retries = 1
"""


def write_recipe(tmp_path, url: str):
    path = tmp_path / "hung.toml"
    path.write_text(textwrap.dedent(RECIPE.format(url=url)))
    return path


def run_against(server, recipe, out, sequential: bool):
    backend = OpenAIBackend(config_for(server.base_url, concurrency=1, max_retries=1), backoff_s=0.01)
    return run_recipe(recipe, out=out, backend=backend, progress=False, sequential=sequential)


def test_pipelined_run_sends_a_failing_batch_as_often_as_the_sequential_run(server, tmp_path):
    server.reply_for = always(OVERLOADED)
    recipe = write_recipe(tmp_path, server.base_url)
    posts, errors = [], []
    for sequential in (True, False):
        server.posts.clear()
        with pytest.raises(BackendError) as info:
            run_against(server, recipe, tmp_path / f"run{sequential}", sequential)
        posts.append(len(server.posts))
        errors.append(info.value.message)
    assert posts == [2, 2]
    assert errors[0] == errors[1] and "failed after 2 attempts" in errors[0]


# --- #4: invalid replies are one clear line, retried where that may help, nothing produced lost --------

INVALID = {
    "truncated JSON": (Reply(raw='{"choices": ['), "invalid JSON"),
    "HTML page": (Reply(raw="<html>oops</html>", headers={"Content-Type": "text/html"}), "an HTML page"),
    "HTML page labelled JSON": (Reply(raw="<html>oops</html>"), "an HTML page instead of JSON: '<html>oops</html>'"),
    "choices null": (Reply(body={"choices": None}), "no choices (choices: null)"),
    "error in a 200": (Reply(body={"error": {"message": "upstream died"}}),
                       "an error instead of choices: upstream died"),
    "a JSON list": (Reply(raw="[1, 2]"), "JSON list instead of an object"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_reply_is_retried_then_one_line_naming_url_and_what_came(server, case):
    reply, what = INVALID[case]
    server.reply_for = always(reply)
    backend = make_backend(server, concurrency=1, max_retries=1)
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    message = str(info.value)
    assert message.startswith(f"request 0 to {server.base_url}/completions failed after 2 attempts: invalid reply: ")
    assert what in message and "generation.backend.base_url" in info.value.hint
    assert len(message.splitlines()) == 1 and len(server.posts) == 2


def test_invalid_reply_then_a_good_one_recovers(server):
    server.script = [Reply(raw='{"choices": [')]
    backend = make_backend(server, concurrency=1)
    assert texts(backend.generate(requests_for("x"), SamplingConfig())) == [["x#0"]]
    assert len(server.posts) == 2


def test_fewer_choices_than_n_fails_at_once_with_a_hint(server):
    one_choice = {"choices": [{"index": 0, "text": "only", "finish_reason": "stop"}]}
    server.reply_for = always(Reply(body=one_choice))
    backend = make_backend(server, concurrency=1, max_retries=3)
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig(n=2, temperature=0.7))
    url = f"{server.base_url}/completions"
    assert info.value.message == f"{url} returned an invalid reply to request 0: 1 choice for n=2"
    assert "set n = 1" in info.value.hint
    assert len(server.posts) == 1  # not worth a retry: the server does not honour n


def test_a_batch_already_made_is_kept_when_the_server_turns_invalid(server, tmp_path):
    server.reply_for = lambda body: Reply(raw='{"choices": [') if len(server.posts) > 2 else None
    recipe = write_recipe(tmp_path, server.base_url)
    with pytest.raises(BackendError, match="invalid reply: invalid JSON"):
        run_against(server, recipe, tmp_path / "run", sequential=False)
    server.reply_for = lambda body: None  # the server is fixed
    resumed = run_against(server, recipe, tmp_path / "run", sequential=False)
    assert len(resumed.dataset) == 6
    assert resumed.report.to_dict()["resumed_batches"] == 1


def test_requests_aborted_by_a_sibling_failure_log_no_retry(server, caplog):
    backend = make_backend(server)
    calls = {"n": 0}
    abort = SimpleNamespace(is_set=lambda: calls["n"] > 0, wait=lambda s: None)

    def closed_under_us(*args):
        calls["n"] += 1  # the batch failed meanwhile and the client was closed: a connection error
        raise _Retryable("APIConnectionError: Connection error.")

    backend._create = closed_under_us
    with caplog.at_level(logging.WARNING), pytest.raises(_Aborted):
        backend._one(requests_for("x")[0], 1, {}, abort)
    assert "retry" not in caplog.text


def test_a_backend_that_breaks_the_result_shape_is_a_backend_error():
    from synthgen.backends.base import check_result_shape

    with pytest.raises(BackendError, match="returned 1 completions for request 0, expected 2"):
        check_result_shape(requests_for("x"), [[object()]], 2, "plugin")


# --- #10: hints name the key of the backend that failed, errors its file:key ----------------------------


def judge_backend_for(url: str, tmp_path, **overrides):
    context = RecipeContext(str(tmp_path / "j.toml"), tmp_path)
    backend = build_backend(config_for(url, **overrides), context, key="verify.0.backend")
    backend.backoff_s = 0.01
    return backend


def test_judge_backend_retry_error_names_its_own_key_and_location(server, tmp_path):
    server.reply_for = always(OVERLOADED)
    backend = judge_backend_for(server.base_url, tmp_path, concurrency=1, max_retries=1)
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    assert info.value.message.startswith(f"{tmp_path / 'j.toml'}:verify.0.backend: request 0 to ")
    assert "verify.0.backend.max_retries" in info.value.hint and "generation.backend" not in str(info.value)


def test_unreachable_judge_server_names_its_base_url_key(tmp_path):
    from helpers_vllm_server import free_port

    backend = judge_backend_for(f"http://127.0.0.1:{free_port()}/v1", tmp_path)
    with pytest.raises(BackendError) as info:
        backend.load()
    assert info.value.message.startswith(f"{tmp_path / 'j.toml'}:verify.0.backend: cannot reach ")
    assert info.value.hint.endswith("fix verify.0.backend.base_url")


def test_generator_backend_keeps_its_key_and_leaves_the_location_to_the_caller(server):
    server.reply_for = always(OVERLOADED)
    backend = make_backend(server, concurrency=1, max_retries=0)
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    assert info.value.message.startswith("request 0 to ")
    assert "generation.backend.max_retries" in info.value.hint


def test_plugin_failure_hint_names_its_own_key(monkeypatch):
    from synthgen.backends import plugins

    def broken(options, **kwargs):
        raise ValueError("no such option")

    entry = SimpleNamespace(load=lambda: broken, value="pkg:broken")
    monkeypatch.setattr(plugins, "installed_backends", lambda: {"broken": entry})
    with pytest.raises(BackendError) as info:
        plugins.load_plugin("broken", {}, mode="auto", system=None, seed=0, key="steps.1.backend")
    assert info.value.hint == "check steps.1.backend.options"


# --- #11: hints fit the status -------------------------------------------------------------------------


def test_base_url_without_v1_gets_a_v1_hint_at_probe_and_at_the_404(server, caplog):
    server.v1_only = True
    root = server.base_url[: -len("/v1")]
    backend = OpenAIBackend(config_for(root))
    with caplog.at_level(logging.WARNING):
        backend.load()
    assert "generation.backend.base_url to end in /v1" in caplog.text
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    assert info.value.message == f"{root}/completions rejected request 0: HTTP 404: Not Found"
    assert info.value.hint.startswith(f"generation.backend.base_url should end in /v1, as in {root}/v1:")


def test_404_with_v1_points_at_base_url_and_model(server):
    server.reply_for = always(Reply(404, {"error": {"message": "The model `tiny` does not exist."}}))
    with pytest.raises(BackendError) as info:
        make_backend(server).generate(requests_for("x"), SamplingConfig())
    assert "generation.backend.base_url and generation.backend.model" in info.value.hint


@pytest.mark.parametrize("status, env, expected", [
    (401, None, "set generation.backend.api_key_env to the variable holding it"),
    (401, "SYNTHGEN_TEST_KEY",
     "check that $SYNTHGEN_TEST_KEY, named by generation.backend.api_key_env, holds a valid key"),
    (403, "SYNTHGEN_TEST_KEY", "the key in $SYNTHGEN_TEST_KEY may lack access to generation.backend.model"),
])
def test_refused_key_during_generation_points_at_the_key(server, monkeypatch, status, env, expected):
    monkeypatch.setenv("SYNTHGEN_TEST_KEY", "sk-test")
    server.reply_for = always(Reply(status, {"error": {"message": f"status {status}"}}))
    backend = make_backend(server, **({"api_key_env": env} if env else {}))
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    assert f"HTTP {status}: status {status}" in info.value.message
    assert expected in info.value.hint and "sampling" not in info.value.hint


def test_400_keeps_the_sampling_hint(server):
    server.reply_for = always(Reply(400, {"error": {"message": "max_tokens is too large"}}))
    with pytest.raises(BackendError) as info:
        make_backend(server).generate(requests_for("x"), SamplingConfig())
    assert info.value.hint == "fix the sampling settings or prompt the server names"


# --- #14: unknown token counts, root cause kept ----------------------------------------------------------


def no_usage(body: dict) -> Reply:
    prompt = body["prompt"]
    return Reply(body={"choices": [{"index": 0, "text": f"{prompt}#0", "finish_reason": "stop"}]})


def test_a_reply_without_usage_makes_tokens_unknown(server):
    server.reply_for = no_usage
    backend = make_backend(server)
    backend.generate(requests_for("a", "b"), SamplingConfig())
    assert backend.last_usage["tokens_known"] is False


def test_vllm_token_ids_make_tokens_known_without_usage(server):
    server.owned_by = "vllm"
    server.reply_for = lambda body: Reply(body={"choices": [{"index": 0, "text": "t", "token_ids": [1, 2]}]})
    backend = make_backend(server)
    results = backend.generate(requests_for("a"), SamplingConfig())
    assert backend.last_usage["tokens_known"] is True and results[0][0].n_tokens == 2


def test_read_ahead_passes_unknown_tokens_on(server):
    server.reply_for = no_usage
    readahead = ReadAhead(make_backend(server))
    readahead.submit(requests_for("a", "b"), SamplingConfig())
    readahead.generate(requests_for("a", "b"), SamplingConfig())
    readahead.close()
    assert readahead.last_usage["tokens_known"] is False


def test_retries_on_a_refused_connection_keep_the_root_cause(server):
    backend = make_backend(server, concurrency=1, max_retries=1)
    server.httpd.shutdown()
    server.httpd.server_close()  # the server goes away after the probe
    with pytest.raises(BackendError) as info:
        backend.generate(requests_for("x"), SamplingConfig())
    assert "failed after 2 attempts: APIConnectionError: Connection error. (ConnectError: " in info.value.message
    assert "Connection refused" in info.value.message
    assert info.value.hint.endswith("fix generation.backend.base_url")


def test_a_run_on_a_server_without_usage_reports_tokens_as_unknown(server, tmp_path):
    """No usage in the replies: report.md, report.json and the progress line say the tokens are unknown
    instead of "0 tokens, 0.0 tokens/s", and a resume keeps knowing it (the flag is checkpointed)."""
    import json

    from synthgen.progress import RunProgress
    from synthgen.report.build import tokens_phrase

    server.reply_for = no_usage
    result = run_against(server, write_recipe(tmp_path, server.base_url), tmp_path / "run", sequential=True)
    saved = json.loads((tmp_path / "run" / "report.json").read_text())["throughput"]
    assert saved["completion_tokens"] is None and saved["tokens_per_s"] is None
    assert f"generation: {tokens_phrase(None)}" in (tmp_path / "run" / "report.md").read_text()
    assert "unknown tokens" in (tmp_path / "run" / "report.html").read_text()
    assert result.report.throughput.tokens_per_s is None
    shard = json.loads(sorted((tmp_path / "run" / "checkpoints").glob("batch-*.json"))[0].read_text())
    assert '"tokens_unknown": true' in json.dumps(shard)  # restored on resume with the step's stats
    runner = SimpleNamespace(state=SimpleNamespace(kept_rows=[1], rejected_rows=[], candidates=1, completion_tokens=0,
                                                   tokens_unknown=True),
                             limits=SimpleNamespace(target=2), checkpoint_stats=lambda: [])
    assert "? tok/s" in RunProgress(runner, enabled=False).line()
