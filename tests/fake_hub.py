"""A minimal stand-in for the Hugging Face Hub API on loopback, for testing uploads with the real client.

It implements what ``HfApi.create_repo`` and ``HfApi.upload_folder`` (huggingface_hub 2.x) call:

- ``POST /api/repos/create`` → ``{"url": ...}`` (409 when the repo exists, which ``exist_ok`` accepts)
- ``POST /api/validate-yaml`` (README.md metadata check): 400 with ``errors`` for the mistakes the Hub
  rejects (no front matter, ``license: other`` without ``license_name``, an unknown size category or
  annotations creator, a language that is not a list of codes), else ``{"errors": [], "warnings": []}``
- ``GET /api/{type}s/{owner}/{name}/tree/{rev}`` → the repo's files now (``upload_folder`` lists them to
  apply ``delete_patterns``)
- ``POST /api/{type}s/{owner}/{name}/preupload/{rev}`` → every file ``"regular"`` (so no LFS or xet upload)
- ``POST /api/{type}s/{owner}/{name}/commit/{rev}`` (ndjson: a header line, base64 ``file``
  lines, ``deletedFile`` / ``deletedFolder`` lines, applied like the Hub: a deleted file is gone)

Every request is recorded with its headers; requests without the expected bearer token get 401, and any
other route gets 404 and is listed in ``unhandled``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_REPO_ROUTE = re.compile(r"^/api/(?P<type>models|datasets|spaces)/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|tree)/"
                         r"(?P<rev>[^/?]+)")
SIZE_LABELS = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
               "10B<n<100B", "100B<n<1T", "n>1T"}
CREATORS = {"crowdsourced", "expert-generated", "found", "machine-generated", "no-annotation", "other"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Commit:
    repo_id: str
    repo_type: str
    revision: str
    header: dict[str, Any]
    files: dict[str, bytes]
    other_operations: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class FakeHub:
    """``with FakeHub(token) as hub:`` serves at ``hub.endpoint`` until the block ends."""

    def __init__(self, token: str):
        self.token = token
        self.requests: list[Request] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.commits: list[Commit] = []
        self.unhandled: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def files(self, repo_id: str) -> dict[str, bytes]:
        """The repo's files after every commit so far: additions, then the commit's deletions applied."""
        out: dict[str, bytes] = {}
        for commit in self.commits:
            if commit.repo_id == repo_id:
                for path in commit.deleted:
                    out = {p: b for p, b in out.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
                out.update(commit.files)
        return out

    # --- routes ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> tuple[int, dict[str, Any]]:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}
        if request.method == "POST" and request.path == "/api/repos/create":
            return self._create_repo(json.loads(request.body))
        if request.method == "POST" and request.path == "/api/validate-yaml":
            errors = card_errors(json.loads(request.body).get("content", ""))
            return (400, {"error": "Invalid metadata", "errors": errors}) if errors else \
                (200, {"errors": [], "warnings": []})
        match = _REPO_ROUTE.match(request.path)
        if request.method == "GET" and match and match["op"] == "tree" and match["repo"] in self.repos:
            return 200, [{"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                         for p, b in sorted(self.files(match["repo"]).items())]
        if request.method == "POST" and match and match["repo"] in self.repos:
            handler = self._preupload if match["op"] == "preupload" else self._commit
            return handler(match["repo"], match["type"][:-1], match["rev"], request.body)
        self.unhandled.append(f"{request.method} {request.path}")
        return 404, {"error": f"not implemented by FakeHub: {request.method} {request.path}"}

    def _create_repo(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        repo_id = f"{payload['organization']}/{payload['name']}"
        repo_type = payload.get("type") or "model"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.endpoint}/{prefix}{repo_id}"
        if repo_id in self.repos:  # the Hub's 409 carries the url too; create_repo(exist_ok=True) reads it
            return 409, {"error": "You already created this dataset repo", "url": url}
        self.repos[repo_id] = dict(payload, type=repo_type)
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def _preupload(self, repo_id: str, repo_type: str, rev: str, body: bytes) -> tuple[int, dict[str, Any]]:
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                               for f in files]}

    def _commit(self, repo_id: str, repo_type: str, rev: str, body: bytes) -> tuple[int, dict[str, Any]]:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        files = {line["value"]["path"]: base64.b64decode(line["value"]["content"])
                 for line in lines if line["key"] == "file"}
        deleted = [line["value"]["path"] for line in lines if line["key"] in ("deletedFile", "deletedFolder")]
        others = [line for line in lines if line["key"] not in ("header", "file", "deletedFile", "deletedFolder")]
        self.commits.append(Commit(repo_id, repo_type, rev, header, files, others, deleted))
        oid = hashlib.sha1(body).hexdigest()
        return 200, {"commitUrl": f"{self.endpoint}/{repo_type}s/{repo_id}/commit/{oid}", "commitOid": oid,
                     "pullRequestUrl": None}


def card_errors(content: str) -> list[dict[str, str]]:
    """The metadata mistakes the Hub's validate-yaml rejects, as ``[{"message": ...}]``."""
    import yaml

    if not content.startswith("---\n") or "\n---\n" not in content:
        return [{"message": "README.md has no YAML front matter"}]
    meta = yaml.safe_load(content.split("\n---\n", 1)[0][4:]) or {}
    problems = []
    if meta.get("license") == "other" and not meta.get("license_name"):
        problems.append('"license_name" is required when "license" is "other"')
    problems += [f'"size_categories" {v!r} is not allowed' for v in meta.get("size_categories") or []
                 if v not in SIZE_LABELS]
    problems += [f'"annotations_creators" {v!r} is not allowed' for v in meta.get("annotations_creators") or []
                 if v not in CREATORS]
    language = meta.get("language")
    if language is not None and not (isinstance(language, list) and all(isinstance(v, str) for v in language)):
        problems.append('"language" must be a list of language codes')
    return [{"message": p} for p in problems]


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = hub.handle(Request(self.command, self.path.split("?")[0], headers, body))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler
