"""Read-ahead generation: the backend works on the next batch while the stages take this one.

The pipelined runner asks :class:`ReadAhead` to generate the first LLM step's requests of the *next*
batch in one background thread. When that batch's step later calls ``generate``, every request that was
generated ahead with exactly the same content (index, prompt, sampling seed, few-shot parents) and the same
sampling is served from the cache; anything else (a batch the runner sized smaller, a prompt the diversity
gate changed by rotating few-shot examples, a temperature it raised) is generated then and there. Because
a request's completions are a pure function of the request and its sampling (the premise that makes resume
exact), the records are the ones the sequential runner makes: read-ahead changes when a completion is
computed, never what it is. Unused read-ahead results are dropped and never counted.

A failed read-ahead call is the run's failure, counted once: the backend already spent its retries on it,
so the thread starts nothing more (jobs still queued are left to the foreground, should they be needed),
and the error is raised when the step asks for those requests, exactly as the sequential runner would
have raised it. It is raised only if the step asks for the very requests that failed; a call made for a
guess that no longer holds (prompts the gate changed) is dropped like any unused read-ahead, and the rest
of the run generates in the foreground. A failed foreground call stops the thread too.

Backends are not thread-safe (vLLM's ``LLM`` must be used by one thread at a time), so every call to the
backend, from the read-ahead thread or from any step or verifier on the main thread, goes through one lock
(:func:`serialized`). A call's time waiting for that lock is not the backend's work: :func:`call_usage`
gives each thread its last call's ``seconds`` measured inside the lock (or the backend's own figure).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from .records import Completion, GenerationRequest


class _Serialized:
    """``backend.generate`` behind one lock. Each thread's last call keeps its usage (:func:`call_usage`):
    the backend's ``last_usage`` read inside the lock (so another thread's call cannot overwrite it
    first), with ``seconds`` measured inside the lock unless the backend said how long it worked."""

    def __init__(self, backend: Any):
        self.backend, self.original = backend, backend.generate
        self.lock = threading.Lock()
        self._local = threading.local()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._local.usage = None
        with self.lock:
            start = time.perf_counter()
            results = self.original(*args, **kwargs)
            self._local.usage = own_usage(self.backend, time.perf_counter() - start)
        return results

    def usage(self) -> dict[str, Any] | None:
        return getattr(self._local, "usage", None)


@contextmanager
def serialized(backend: Any) -> Iterator[threading.Lock]:
    """Route every ``backend.generate`` call through one lock for the duration (instance-level wrap,
    undone on exit), so the read-ahead thread and the steps never call the engine at the same time."""
    wrapper = _Serialized(backend)
    backend.generate = wrapper
    try:
        yield wrapper.lock
    finally:
        del backend.generate


def own_usage(backend: Any, seconds: float) -> dict[str, Any]:
    """``backend.last_usage`` (a copy) with ``seconds`` set to ``seconds`` unless the backend set it."""
    usage = dict(getattr(backend, "last_usage", None) or {})
    if usage.get("seconds") is None:
        usage["seconds"] = seconds
    return usage


def call_usage(backend: Any, waited: float) -> dict[str, Any]:
    """The usage of this thread's last ``backend.generate`` call, with ``seconds`` the time the backend
    worked on it: its own figure, else the time inside the lock when the backend is serialized (waiting
    for another thread's call excluded), else ``waited`` (no lock: the call's wall time is its work)."""
    generate = getattr(backend, "generate", None)
    usage = generate.usage() if isinstance(generate, _Serialized) else None
    return usage if usage is not None else own_usage(backend, waited)


def request_key(request: GenerationRequest, sampling: Any) -> tuple:
    """Everything a completion depends on."""
    return (request.index, request.prompt, request.sampling_seed, tuple(request.parent_ids),
            sampling.model_dump_json())


class _Job:
    """One background backend call over ``requests``; ``done`` is set when it finished, failed (``error``)
    or was skipped after an earlier job failed (neither ``results`` nor ``error``)."""

    def __init__(self, requests: list[GenerationRequest], sampling: Any):
        self.requests, self.sampling = requests, sampling
        self.results: list[list[Completion]] | None = None
        self.error: BaseException | None = None
        self.usage: dict[str, Any] = {}
        self.seconds = 0.0
        self.done = threading.Event()

    def keys(self) -> set[tuple]:
        return {request_key(r, self.sampling) for r in self.requests}


class ReadAhead:
    """Stands in for the first LLM step's backend: ``submit`` queues requests to generate in the background
    (one call at a time, in order), ``generate`` serves cached completions and generates the rest.

    ``busy_seconds`` is the time the backend worked on every call made for this step, read ahead or in
    the foreground, used or discarded (waits for the lock excluded); ``discarded`` counts requests
    generated ahead and never used."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.last_usage: dict[str, Any] = {}
        self.busy_seconds = 0.0
        self.discarded = 0
        self._jobs: list[_Job] = []  # submitted, not yet collected (in order)
        self._queue: list[_Job] = []  # submitted, not yet started by the thread
        self._cache: dict[tuple, tuple[list[Completion], dict[str, float]]] = {}
        self._wake = threading.Condition()
        self._closed = False
        self._failed = False  # a read-ahead call failed: the thread stops, the foreground does the rest
        self._thread = threading.Thread(target=self._work, name="synthgen-readahead", daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:  # describe(), capacity, load() ... of the real backend
        return getattr(self.backend, name)

    def submit(self, requests: list[GenerationRequest], sampling: Any) -> None:
        """Queue a background call (the caller bounds how far ahead it reads); none after a failure."""
        if not requests:
            return
        with self._wake:
            if self._failed or self._closed:
                return
            job = _Job(list(requests), sampling)
            self._jobs.append(job)
            self._queue.append(job)
            self._wake.notify()

    def generate(self, requests: list[GenerationRequest], sampling: Any) -> list[list[Completion]]:
        """Completions for ``requests`` (same order): read-ahead results where they match, the rest now.
        A read-ahead call that failed on any of these requests raises its error here."""
        keys = [request_key(r, sampling) for r in requests]
        self._collect({r.index for r in requests}, set(keys))
        missing = [r for r, k in zip(requests, keys) if k not in self._cache]
        if missing:
            self._store(missing, sampling, *self._call_now(missing, sampling))
        served = [self._cache.pop(k) for k in keys]
        self._drop_stale(min(r.index for r in requests) if requests else 0)
        self.last_usage = {"prompt_tokens": round(sum(usage["prompt_tokens"] for _, usage in served)),
                           "seconds": sum(usage["seconds"] for _, usage in served),
                           "tokens_known": all(usage["tokens_known"] for _, usage in served)}
        return [completions for completions, _ in served]

    def close(self) -> None:
        """Stop the thread (a call in flight finishes in the background) and drop what was never used."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            self.discarded += len(self._cache) + sum(len(job.requests) for job in self._jobs)
            self._cache.clear()
            self._jobs.clear()
            self._queue.clear()

    # --- internals -------------------------------------------------------------------------------

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            try:
                job.results, job.usage, job.seconds = self._call(job.requests, job.sampling)
            except BaseException as exc:  # noqa: BLE001 - raised where the step collects this job
                job.error = exc
                self._stop_after_failure()
            finally:
                job.done.set()

    def _next_job(self) -> _Job | None:
        with self._wake:
            while not self._closed and not self._failed and not self._queue:
                self._wake.wait()
            if self._closed or self._failed:
                return None
            return self._queue.pop(0)

    def _stop_after_failure(self) -> None:
        """The backend just spent its retries on a failing call: start nothing more (whatever is queued is
        marked done without results, so a step that still needs it generates it itself)."""
        with self._wake:
            self._failed = True
            skipped, self._queue = self._queue, []
        for job in skipped:
            job.done.set()

    def _call_now(self, requests: list[GenerationRequest], sampling: Any) -> tuple[list, dict, float]:
        """A foreground call; when it fails, the run fails, so the thread reads nothing more ahead."""
        try:
            return self._call(requests, sampling)
        except BaseException:
            self._stop_after_failure()
            raise

    def _call(self, requests: list[GenerationRequest], sampling: Any) -> tuple[list, dict, float]:
        start = time.perf_counter()
        results = self.backend.generate(requests, sampling)
        usage = call_usage(self.backend, time.perf_counter() - start)
        seconds = float(usage["seconds"])
        with self._wake:  # the thread and a foreground call both add to it
            self.busy_seconds += seconds
        return results, usage, seconds

    def _collect(self, indices: set[int], keys: set[tuple]) -> None:
        """Wait for the queued calls up to the last one holding any of ``indices`` (calls run in order)
        and move their results into the cache; later calls stay in flight. A call that failed on any of
        ``keys`` re-raises its error: the backend already retried it, so it is not sent again."""
        with self._wake:
            overlapping = [i for i, job in enumerate(self._jobs) if any(r.index in indices for r in job.requests)]
            cut = overlapping[-1] + 1 if overlapping else 0
            jobs, self._jobs = self._jobs[:cut], self._jobs[cut:]
        for job in jobs:
            job.done.wait()
            if job.error is not None and job.keys() & keys:
                raise job.error
            if job.results is not None:
                self._store(job.requests, job.sampling, job.results, job.usage, job.seconds)

    def _store(self, requests: list[GenerationRequest], sampling: Any, results: list, usage: dict,
               seconds: float) -> None:
        """Cache each request's completions with its share of the call's prompt tokens and seconds (and
        whether the backend knew the call's token counts)."""
        share = 1 / max(len(requests), 1)
        prompt_tokens = float(usage.get("prompt_tokens") or 0)
        known = usage.get("tokens_known", True) is not False
        usage_share = {"prompt_tokens": prompt_tokens * share, "seconds": seconds * share, "tokens_known": known}
        for request, completions in zip(requests, results, strict=True):
            self._cache[request_key(request, sampling)] = (completions, dict(usage_share))

    def _drop_stale(self, lowest: int) -> None:
        """Requests below the lowest index just asked for can no longer be used (batches move forward)."""
        stale = [key for key in self._cache if key[0] < lowest]
        for key in stale:
            del self._cache[key]
        self.discarded += len(stale)
