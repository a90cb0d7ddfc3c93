"""A tolerant second try for spoken commands the exact grammar missed: Whisper mishears short verbs.

tiny.en turns "cancel the pirate job" into "can't solve the pirate job" and "export the pirate adapter" into
"and export the pirate or napter". The transcript's first words are compared with the command verbs by
spelling and by sound (rapidfuzz ratio on the words and on their Metaphone keys) with the verbs the skills
declare for voice (SKILL.md `voice`; a skill that only erases declares none), the object words (adapter,
job, ollama, persona names) are mended the same way, and the mended text must then pass the exact grammar
(agent/grammar.py) for the same intent. Only text that names an object of a command (a persona,
an adapter, a job, a model) is considered, so chat about trains or the weather stays chat. Used for voice
transcripts only; typed text keeps the exact grammar.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, NamedTuple

from agent.grammar import Grammar
from agent.intents import Intent, normalize
from agent.sound_examples import Vocabulary, fill, similarity, sounds_like, words_of
from config.settings import VoiceConfig
from skills.declaration import PLACEHOLDER

if TYPE_CHECKING:
    from skills.voice import SecondGuess

Verbs = dict[str, tuple[tuple[str, ...], str]]  # intent -> (spoken forms of its verb, the form the mended text uses)
COMMAND_OBJECTS = {"adapter", "adapters", "job", "jobs", "persona", "personas", "gguf", "ollama", "lora", "qlora"}
OBJECTS = ("adapter", "adapters", "persona", "job", "model", "training", "ollama", "gguf")
# Words a speaker (or Whisper) puts before the verb; dropping them costs no confidence.
_FILLERS = {"and", "then", "so", "um", "uh", "er", "oh", "well", "the", "a", "now", "ok", "okay", "in", "it"}
_MAX_LEAD = 2  # other words skipped before the verb, each costing SKIP_COST
SKIP_COST = 0.1
MEND_COST = 0.95  # confidence kept when an object word had to be mended
UNGRAMMATICAL_COST = 0.85  # a known persona named after a likely verb, in words the grammar would not take
NEAR_BEST = 0.1  # only verbs about as likely as the best one are tried (a poor verb that parses is no evidence)
ATTEMPT_AT = 0.45  # a transcript this much like a declared example may be a command attempt (with one more sign)
RETRY_AT = 0.3  # a transcript this much like a command is heard again primed with the command phrasings
# Words chat starts with as often as commands do: not a sign of a command on their own.
_GENERIC_STARTS = {"how", "what", "what's", "whats", "is", "are", "go", "i", "the", "a", "an", "can", "do", "use",
                   "set", "make", "take", "write", "count", "tell", "who", "when", "where", "why"}
RIVAL_MARGIN = 0.1  # a second skill this close to the best one: ask which, never run either
_NOT_OBJECTS = {"the", "a", "an", "to", "of", "on", "my", "and", "in", "or", "it"}  # a mended object never starts so


class Guess(NamedTuple):
    """The command a transcript most likely was, the mended text that states it, and how sure we are (0..1)."""

    intent: Intent
    text: str
    confidence: float


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9'#./_-]+", normalize(text))


def _mend_objects(words: list[str], personas: list[str]) -> tuple[list[str], bool, bool]:
    """Object words put right ("or naptor" → adapter, "a llama" → ollama); (words, names an object, mended)."""
    vocabulary = [*OBJECTS, *(p.lower() for p in personas)]
    out, found, mended, i = [], False, False, 0
    while i < len(words):
        word = words[i].removesuffix("'s")  # "the pirate's job" is the pirate job
        if word in vocabulary:
            out.append(word)
            found, i = True, i + 1
            continue
        best = max(((similarity(" ".join(words[i:i + n]), v), n, v) for n in (1, 2) if i + n <= len(words)
                    for v in vocabulary if len(" ".join(words[i:i + n])) >= 3 and words[i] not in _NOT_OBJECTS
                    and (n == 1 or words[i + 1] not in vocabulary)), default=(0.0, 1, ""))
        if best[0] >= 0.75:
            out.append(best[2])
            found, mended, i = True, True, i + best[1]
        else:
            out.append(words[i])
            i += 1
    return out, found, mended


def _verb_candidates(words: list[str], personas: list[str], verbs: Verbs) -> list[tuple[float, str, int]]:
    """(score, intent, words used) for each verb the first words could be, after fillers and a skip or two."""
    start = 0
    while start < len(words) and words[start] in _FILLERS:
        start += 1
    found = []
    for skip in range(_MAX_LEAD + 1):
        at = start + skip
        for n in (1, 2, 3, 4):
            if at + n > len(words) or words[at + n - 1] in (*OBJECTS, *personas):
                break  # the verb never swallows the object it acts on
            heard = " ".join(words[at:at + n])
            for intent, (forms, _) in verbs.items():
                score = max(similarity(heard, form) for form in forms) - SKIP_COST * skip
                found.append((score, intent, at + n))
    return sorted(found, reverse=True)


def _parse(name: str, rest: list[str], personas: list[str], score: float,
           grammar: Grammar) -> tuple[Intent, float] | None:
    """The mended text's intent if the grammar agrees it is `name`; else the command form when a persona is named."""
    intent = grammar.resolve(" ".join([grammar.voices()[name][1], *rest]), personas)
    if intent.name == name:
        return intent, score
    if not set(rest) & {p.lower() for p in personas}:
        return None
    word = next((w for w, s in grammar.commands.items() if s.declaration.intent == name), name)
    command = grammar.parse_command(f"!{word} " + " ".join(rest), personas)
    return (command, score * UNGRAMMATICAL_COST) if command is not None else None


def guess(text: str, personas: list[str], grammar: Grammar) -> Guess | None:
    """The most likely command in a misheard transcript, or None when it does not look like a command."""
    words = _words(text)
    verbs = grammar.voices()
    candidates = _verb_candidates(words, personas, verbs) if words else []
    for score, name, used in candidates[:8]:
        if score < candidates[0][0] - NEAR_BEST:
            break
        rest, names_object, mended = _mend_objects(words[used:], personas)
        if rest[:1] in (["on"], ["of"], ["for"], ["at"]):  # a misheard verb's tail: "email you later on the …"
            rest = rest[1:]
        parsed = _parse(name, rest, personas, score, grammar) if names_object else None
        if parsed is None:
            continue
        intent, score = parsed
        confidence = max(0.0, min(1.0, score * (MEND_COST if mended else 1.0)))
        return Guess(intent.model_copy(update={"source": "fuzzy"}), " ".join([verbs[name][1], *rest]),
                     round(confidence, 3))
    return None


class Hearing(NamedTuple):
    """What to do with a transcript the exact grammar read as chat, and the guesses it rests on (best first:
    the one to run, or the one or two to ask about)."""

    action: Literal["run", "ask", "chat"]
    guesses: list[Guess]
    nearest: float = 0.0  # the best guess's confidence, asked about or not


def guesses(text: str, vocabulary: Vocabulary, grammar: Grammar) -> list[Guess]:
    """Every skill the transcript may be asking for, best first, one guess per skill: the verb matcher's and,
    for each skill, the declared example it sounds most like (its filled-in text must reach that same skill
    through the exact grammar)."""
    personas = list(vocabulary.personas)
    found: dict[str, Guess] = {}
    by_verb = guess(text, personas, grammar)
    candidates = [by_verb] if by_verb is not None else []
    for heard in sounds_like(text, list(grammar.skills.values()), vocabulary):
        intent = grammar.resolve(heard.text, personas)
        if intent.skill == heard.skill:
            candidates.append(Guess(intent.model_copy(update={"source": "sound"}), heard.text, heard.score))
    for candidate in candidates:
        skill = candidate.intent.skill or candidate.intent.name
        if skill not in found or candidate.confidence > found[skill].confidence:
            found[skill] = candidate
    return sorted(found.values(), key=lambda g: -g.confidence)


def hear(text: str, vocabulary: Vocabulary, config: VoiceConfig, grammar: Grammar) -> Hearing:
    """Run a sure guess, ask about unsure ones (the best and a close second), else chat. A guess runs only when
    no other skill comes close: a misheard command never runs a different skill without a yes."""
    found = guesses(text, vocabulary, grammar)
    nearest = found[0].confidence if found else 0.0
    ranked = [g for g in found if g.confidence >= config.fuzzy_ask_at]
    if not ranked:
        return Hearing("chat", [], nearest)
    best, rivals = ranked[0], ranked[1:2]
    if rivals and best.confidence - rivals[0].confidence < RIVAL_MARGIN:
        return Hearing("ask", [best, *rivals], nearest)
    if best.confidence >= config.fuzzy_run_at or grammar.permission(best.intent.skill) == "read":
        return Hearing("run", [best], nearest)
    return Hearing("ask", [best, *rivals], nearest)


def command_confidence(text: str, vocabulary: Vocabulary, config: VoiceConfig, grammar: Grammar) -> float:
    """How surely a transcript is a command, 0..1: 1 when the exact grammar reads one, else its best guess's."""
    if grammar.resolve(text, list(vocabulary.personas)).name != "chat":
        return 1.0
    return hear(text, vocabulary, config, grammar).nearest


def command_of(text: str, vocabulary: Vocabulary, config: VoiceConfig,
               grammar: Grammar) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The command a transcript most likely states, as (skill, arguments): the exact grammar's, else the tolerant
    matcher's best guess worth asking about; None for chat."""
    intent = grammar.resolve(text, list(vocabulary.personas))
    if intent.name == "chat":
        found = hear(text, vocabulary, config, grammar).guesses
        if not found:
            return None
        intent = found[0].intent
    return intent.skill or intent.name, tuple(sorted((k, str(v).lower()) for k, v in intent.args.items()))


def command_prompt(grammar: Grammar, vocabulary: Vocabulary) -> str:
    """The command vocabulary Whisper is primed with when it hears a clip again: one declared phrasing per skill
    spoken by voice, a persona's name filled in ("Evaluate the pirate adapter. Roll back the pirate adapter. …").
    Whole phrasings: tiny.en took a list of words as words to hallucinate, sentences as speech to expect."""
    name = vocabulary.personas[0] if vocabulary.personas else None
    said = []
    for skill in (s for s in grammar.skills.values() if s.declaration.voice is not None):
        for example in skill.declaration.examples:
            slots = set(PLACEHOLDER.findall(example))
            if slots <= {"at"} or (name and slots <= {"persona", "adapter", "job", "at"}):
                filled = fill(example, {"persona": name or "", "adapter": name or "", "job": name or "", "at": "2am"})
                said.append(filled[:1].upper() + filled[1:] + ".")
                break
    return " ".join(said)


def second_guess(config: VoiceConfig, grammar: Grammar, vocabulary: Vocabulary) -> SecondGuess:
    """How skills.voice hears an unsure command attempt again: scored with command_confidence, primed with
    command_prompt. A transcript as sure as fuzzy_run_at, or less like a command than RETRY_AT, is kept as heard;
    a primed one replacing a plain one that was not worth asking about (fuzzy_ask_at) is asked about, never run."""
    from skills.voice import SecondGuess

    return SecondGuess(confidence=lambda text: command_confidence(text, vocabulary, config, grammar),
                       command=lambda text: command_of(text, vocabulary, config, grammar),
                       prompt=command_prompt(grammar, vocabulary), sure_at=config.fuzzy_run_at, retry_at=RETRY_AT,
                       trusted_at=config.fuzzy_ask_at)


def command_verbs(grammar: Grammar) -> set[str]:
    """Words a spoken command starts with: the declared voice verbs, `!word` commands, the examples' first words."""
    verbs = {form.split()[0] for forms, _ in grammar.voices().values() for form in forms}
    verbs |= set(grammar.commands)
    verbs |= {normalize(e).split()[0] for s in grammar.skills.values() for e in s.declaration.examples if normalize(e)}
    return verbs - _GENERIC_STARTS


def looks_like_command(text: str, vocabulary: Vocabulary, grammar: Grammar, nearest: float) -> bool:
    """Whether a transcript that matched no command was still meant as one: two of three signs, a command verb
    first, a command's object (adapter, job, gguf, an adapter or job id; a persona's name after a command verb)
    and some likeness to a declared example. Chat about trains or pirates shows one at most."""
    words = [w for w in words_of(text) if w not in _FILLERS] or [""]
    personas = {p.lower() for p in vocabulary.personas}
    objects = {*COMMAND_OBJECTS, *(n.lower() for n in (*vocabulary.adapters, *vocabulary.jobs))} - personas
    verb = words[0] in command_verbs(grammar)
    named = bool(objects & set(words)) or (verb and bool(personas & set(words)))
    return sum([verb, named, nearest >= ATTEMPT_AT]) >= 2


def sayable_examples(grammar: Grammar, personas: list[str], limit: int = 3) -> list[str]:
    """A few declared phrasings of spoken commands, read-only first, names filled in, to offer when none was
    caught (skills declaring `voice` only: what only erases is never suggested)."""
    name = personas[0] if personas else None
    spoken = sorted((s for s in grammar.skills.values() if s.declaration.voice is not None),
                    key=lambda s: s.permission != "read")
    found = []
    for skill in spoken:
        for example in sorted(skill.declaration.examples, key=lambda e: "{" in e):
            slots = set(PLACEHOLDER.findall(example))
            if slots <= {"at"} or (name and slots <= {"persona", "adapter", "job", "at"}):
                found.append(fill(example, {"persona": name or "", "adapter": name or "", "job": name or "",
                                            "at": "2am"}))
                break
    return found[:limit]


def not_caught(text: str, grammar: Grammar, personas: list[str]) -> str:
    """The answer to a voice message meant as a command that matched none: what was heard, what can be said."""
    examples = ", ".join(f"\u201c{e}\u201d" for e in sayable_examples(grammar, personas))
    return (f"I heard \u201c{text.strip()}\u201d \u2014 I didn't catch a command; you can say {examples}, "
            "or type it.")


def decide(found: Guess | None, config: VoiceConfig, grammar: Grammar) -> Literal["run", "ask", "chat"]:
    """Run a sure guess, ask about an unsure one, else chat; a read-only one runs when it is worth asking about
    (showing a status costs less than a question about it)."""
    if found is None or found.confidence < config.fuzzy_ask_at:
        return "chat"
    if found.confidence >= config.fuzzy_run_at or grammar.permission(found.intent.skill) == "read":
        return "run"
    return "ask"
