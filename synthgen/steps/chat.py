"""``chat``: a conversation of N turns, stored as ``messages`` (a list of ``{role, content}``).

User turns are written by the model from ``user_template`` (a persona or seed prompt; ``{history}`` is the
transcript so far), or the first one is taken from an earlier column; assistant turns are the model's
replies to the transcript. Each turn is one batched backend call over the batch's surviving records, so a
3-turn chat costs six calls per batch, whatever the batch size. Completion-style transcripts keep a base
model on track; the stop strings end a turn where the next speaker would begin.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..records import Candidate
from .base import LLMStepStage, StepRuntime, render

EMPTY_TURN = "empty_turn"
TURN_STOPS = ["\nUser:", "\nAssistant:"]
ASSISTANT_PROMPT = ("The following is a conversation between a curious user and a helpful, knowledgeable "
                    "assistant who answers clearly and correctly.\n\n{history}\nAssistant:")


def transcript(messages: list[dict[str, str]]) -> str:
    return "\n".join(f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in messages)


class ChatStage(LLMStepStage):
    def __init__(self, config: Any, runtime: StepRuntime, user_sampling: Any):
        super().__init__(config, runtime)
        self.user_sampling = user_sampling

    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        conversations = {id(r): [] for r in records}
        alive = list(records)
        for turn in range(1, self.config.turns + 1):
            alive = self._turn(alive, conversations, turn, "user")
            alive = self._turn(alive, conversations, turn, "assistant")
        for record in alive:
            messages = conversations[id(record)]
            record.columns[self.name] = messages
            record.text = messages[-1]["content"]
            yield record

    def _turn(self, records: list[Candidate], conversations: dict[int, list], turn: int, role: str
              ) -> list[Candidate]:
        """Add one message of ``role`` to every conversation; a record whose turn comes back empty is
        dropped with reason ``empty_turn`` (its partial transcript is the reject's text). Empty means
        nothing visible: whitespace and invisible format characters only (a zero-width space), the rule a
        generate step's ``empty_output`` and the ``non_empty`` verifier apply."""
        from ..verify.rules import visible

        if role == "user" and turn == 1 and self.config.first_user:
            texts = [str(r.columns.get(self.config.first_user, r.request.seed.fields.get(self.config.first_user)))
                     for r in records]
        else:
            texts = self._ask_turn(records, conversations, turn, role)
        alive = []
        for record, text in zip(records, texts, strict=True):
            history = conversations[id(record)]
            if not visible(text):
                record.text = transcript(history)
                self.drop(record, EMPTY_TURN, evidence={"turn": turn, "role": role})
                continue
            history.append({"role": role, "content": text})
            alive.append(record)
        return alive

    def _ask_turn(self, records: list[Candidate], conversations: dict[int, list], turn: int, role: str) -> list[str]:
        template = self.config.user_template if role == "user" else (self.config.assistant_template or ASSISTANT_PROMPT)
        requests = [self.request(r, render(template, r, history=transcript(conversations[id(r)]), turn=turn),
                                 call="" if (turn, role) == self._first_call() else f"{role}{turn}")
                    for r in records]
        if (turn, role) == self._first_call():
            for record, request in zip(records, requests):
                self.keep_prompt(record, request)
        sampling = self.user_sampling if role == "user" else self.runtime.sampling
        results = self.ask(requests, sampling)
        for record, completions in zip(records, results, strict=True):
            record.n_tokens += completions[0].n_tokens
            record.finish_reason = completions[0].finish_reason
        return [self.clean(completions[0].text) for completions in results]

    def _first_call(self) -> tuple[int, str]:
        return (1, "assistant") if self.config.first_user else (1, "user")
