"""A thread the program started that ends just after the call returned (multiprocessing's ThreadPool does not
join its workers when its with block ends) is waited for before the tampering guard decides: on a busy
machine a correct program using a ThreadPool was rejected as ``tampered_builtins``. A thread that keeps
running past the wait (0.5 s) is still tampering."""

from __future__ import annotations

import pytest

from test_sandbox_messages import MODES, candidate_for, make_verifier

LATE_THREAD = ("```python\nimport threading\nimport time\n\n\ndef add(a, b):\n"
               "    threading.Thread(target=time.sleep, args=({seconds},)).start()\n    return a + b\n```")


@pytest.fixture(scope="module", params=MODES)
def verifier(request):
    verifier = make_verifier(request.param, timeout_s=10.0)
    yield verifier
    verifier.close()


def test_a_thread_that_ends_just_after_the_call_is_waited_for(verifier):
    verdict = verifier.check(candidate_for(LATE_THREAD.format(seconds=0.2)))
    assert verdict.keep, verdict


def test_a_thread_still_running_after_the_wait_is_tampering(verifier):
    verdict = verifier.check(candidate_for(LATE_THREAD.format(seconds=3)))
    assert not verdict.keep and verdict.reason == "tampered_builtins", verdict
    assert "a thread the code started is still running" in verdict.evidence["error"]
