"""The final measurement of each simulated night, on the hidden holdout.

`read_hidden_holdout` is the only reader of `data/<persona>/hidden_holdout.jsonl`: no training, gate, generator
or evaluator sees those prompts (tests/agent/test_simulate.py asserts it with an audit hook on `open` in every
process of a run). Per night: the served model's answers vs night 0's, position-swapped by a judge; style
adherence; the simulated users' 👍 rate on these fresh prompts; the forgetting check against the base model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from agent import persona_switch
from agent.session import Session
from agent.simulate.community import HiddenRule, persona_data
from config.settings import Settings
from skills.evaluate import forgetting
from skills.evaluate.adherence import adherence, check_answer
from skills.evaluate.judge import calibrate, judge_pairs, judge_provider
from skills.personas import Persona, load_persona
from skills.providers import get_provider
from skills.providers.local import generate_lock

_PAIR = re.compile(r"## Answer A\n(.*)\n\n## Answer B\n(.*)\n\nVerdict", re.S)


def read_hidden_holdout(persona: str) -> list[str]:
    """The hidden holdout's prompts (the only place that opens the file)."""
    path = persona_data(persona) / "hidden_holdout.jsonl"
    return [json.loads(line)["prompt"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class StyleJudge:
    """A cheap deterministic judge for --tiny (a tiny random model cannot judge): the answer that breaks fewer of
    the persona card's style rules wins, then the one that says something; it never sees the hidden rule."""

    name = "style judge (deterministic, --tiny)"

    def __init__(self, card: Persona) -> None:
        self.card = card

    def _score(self, text: str) -> int:
        return -2 * len(check_answer(text, self.card.style)) + int(bool(text.strip()))

    def chat(self, messages: list[dict[str, Any]], **_: Any) -> Any:
        """'A', 'B' or 'TIE' for the judge prompt's two answers."""
        pair = _PAIR.search(str(messages[-1]["content"]))
        a, b = (self._score(pair.group(1)), self._score(pair.group(2))) if pair else (0, 0)
        return SimpleNamespace(text="A" if a > b else "B" if b > a else "TIE")


@dataclass
class Measurer:
    """Measures the served model each night against night 0 on the hidden holdout."""

    settings: Settings
    persona: str
    rule: HiddenRule
    tiny: bool
    max_new_tokens: int = 48
    prompts: list[str] = field(default_factory=list)
    night0: list[str] = field(default_factory=list)
    night0_served: str | None = None
    base_forgetting: dict[str, Any] | None = None
    _forgot: dict[str | None, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from skills.jobs.heavy import model_work_on_worker

        self.card = load_persona(self.settings.workspace_dir, self.persona)
        # executor.kind = "ray": the local model's answers and forgetting checks run as jobs on the GPU box
        self.on_worker = self.settings.llm.provider == "local" and model_work_on_worker(self.settings)
        self.judge = StyleJudge(self.card) if self.tiny else judge_provider(self.settings)
        self.judge_name = getattr(self.judge, "name", f"{self.settings.judge.provider}:{self.settings.judge.model or self.settings.base_model}")

    def _messages(self, prompt: str, served: str | None = None) -> list[dict[str, Any]]:
        """The prompt as the channel's users are answered: a served adapter hears its persona card's system prompt
        (what it was trained with), the base model the assistant's prompt with the persona appended (the router's
        Session builds both; the simulation's recall is off)."""
        voice = self.card.system_prompt if served else None
        system, _ = Session("simulate:measure", persona_prompt=self.card.system_prompt).system_prompt(prompt, voice)
        return [{"role": "system", "content": system}, {"role": "user", "content": prompt}]

    def _answers(self, provider: Any, served: str | None) -> list[str]:
        chats = [self._messages(p, served) for p in self.prompts]
        if self.on_worker:  # the served adapter (or the bare base) answers on the GPU box; the texts come back
            return self._model_work("answers", served, {"chats": chats, "max_tokens": self.max_new_tokens,
                                                        "temperature": 0.0})
        return [str(getattr(provider.chat(chat, max_tokens=self.max_new_tokens, temperature=0.0), "text", "")).strip()
                for chat in chats]

    def _forgetting(self, provider: Any, served: str | None) -> dict[str, Any]:
        """General-ability accuracy and answer loss of `provider`'s model (the adapter active, if it has one)."""
        if self.on_worker:
            return self._model_work("forgetting", served, {"system_prompt": self.card.system_prompt,
                                                           "items": self.settings.eval.forgetting_items})
        with generate_lock:
            model, tokenizer = provider.load()
            if hasattr(provider, "adapter_key"):
                model.set_adapter(provider.adapter_key)  # the shared host may have switched to another adapter
            items = forgetting.general_set(self.settings.eval.forgetting_items)
            return forgetting.measure(model, tokenizer, items, system_prompt=self.card.system_prompt)

    def _model_work(self, task: str, served: str | None, payload: dict[str, Any]) -> Any:
        from skills.jobs.heavy import model_work_on_executor

        return model_work_on_executor(self.settings, task, payload, requester="simulate", adapter=served,
                                      base_model=self.settings.llm.model or self.settings.base_model)

    def _provider(self, served: str | None) -> Any:
        """What answers the persona now: its served adapter, else the base model (None when the GPU box does)."""
        if self.on_worker:
            return None
        adapter = persona_switch.provider_for(self.settings, self.persona) if served else None
        return adapter or get_provider(self.settings, "llm")

    def measure(self, served: str | None) -> dict[str, Any]:
        """The night's hidden-holdout metrics for whatever the persona serves now (night 0 on the first call)."""
        provider = self._provider(served)
        if not self.prompts:  # night 0: the reference every later night is judged against
            self.prompts = read_hidden_holdout(self.persona)
            self.night0, self.night0_served = self._answers(provider, served), served
            self.base_forgetting = self._forgetting(self._provider(None), None)
        trust: dict[str, Any] = {}
        if served == self.night0_served:  # the same model as night 0: its answers, a tie by construction
            answers, win = list(self.night0), 0.5
        else:
            answers = self._answers(provider, served)
            judged = calibrate(judge_pairs(self.judge, [self._messages(p) for p in self.prompts], answers, self.night0),
                               self.settings.eval.judge_max_position_bias, self.settings.eval.judge_max_disagreement)
            win = judged["win_rate"]
            trust = {"judge_reliable": judged["reliable"], "judge_first_position_rate": judged["first_position_rate"]}
        if served not in self._forgot:
            measured = self.base_forgetting if served is None else self._forgetting(provider, served)  # base: known
            self._forgot[served] = forgetting.compare(self.base_forgetting, measured, self.settings.eval.max_forgetting)
        forgot = self._forgot[served]
        liked = sum(self.rule.likes(a) for a in answers)
        return {"judge_win_rate": round(win, 4), "adherence": adherence(answers, self.card.style)["percent"] / 100,
                "thumbs_up_rate": round(liked / len(answers), 4), "forgetting_flagged": bool(forgot["flagged"]),
                "forgetting_accuracy": forgot["adapter_accuracy"], "forgetting_loss_rise": forgot["loss_rise"],
                "forgetting_instruction_following": forgot["adapter_instruction_following"],
                "items": len(answers), "sample": answers[0][:200] if answers else "", **trust}
