"""Answer composer: knowledge-hub passages -> a short spoken answer that cites its sources.

The LLM writes the answer when it is present, on time and grounded (intents.guardrails.grounding);
otherwise the best passage's most relevant sentences are read out with their source; with
no relevant passage the customer is told politely to ask staff. Nothing is ever invented.
Synchronous: the service runs `answer` in a worker thread and passes a cancel event.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from intents.answers.llm import CallStats
from intents.answers.llm_prompt import clean_for_speech
from intents.answers.settings import AnswerSettings
from intents.answers.tier import LlmTier
from intents.guardrails.grounding import GroundingReport, check, strip_citations
from intents.knowledge.chunker import Passage
from intents.knowledge.hub import EXPANSION_WEIGHT, SearchResult
from intents.knowledge.tokens import (
    PRICE_TERMS,
    asks_price,
    expand_query,
    tokenize,
    without_price_words,
)

Mode = Literal["llm", "extractive", "none"]
Language = Literal["zh", "en"]
NOT_FOUND: Final = "NONE"
DONT_KNOW: Final = {
    "zh": "抱歉，这个问题我暂时答不上来，请咨询大堂工作人员。",
    "en": "Sorry, I don't have that information. Please ask our staff at the counter.",
}
_SYSTEM: Final = {
    "en": ("Answer from the passages only, in one or two short spoken English sentences. "
           "Copy numbers exactly. Never promise returns. Cite like [1]. "
           f"If the passages lack the answer, reply {NOT_FOUND}."),
    "zh": ("只根据资料用中文一两句简短回答，数字照抄资料，不承诺收益，句末注明编号如[1]。"
           f"资料没有答案时只回复 {NOT_FOUND}。"),
}
_CITE: Final = re.compile(r"\[\s*(\d+(?:\s*[,，]\s*\d+)*)\s*\]")
_SPLIT: Final = re.compile(r"(?<=[。！？；!?;])\s*|(?<=[^\d\s]\.)\s+|\n+")


class Searcher(Protocol):
    """The knowledge hub's search (intents.knowledge.KnowledgeHub)."""

    def search(self, query: str, k: int = 5,
               audience: Literal["customer", "staff"] = "customer") -> list[SearchResult]: ...




@dataclass(frozen=True, slots=True)
class Answer:
    """What to say, in which language, from which sources ("file § section"), and how."""

    text: str
    language: str
    sources: tuple[str, ...]
    mode: Mode
    passages: tuple[Passage, ...] = ()
    grounding: GroundingReport | None = None
    stats: CallStats = field(default_factory=CallStats)
    fallback_reason: str = ""  # why the LLM answer was not used ("" when mode is "llm")


def cite(passage: Passage) -> str:
    """How a source is named to staff and in logs: "fees.md § 取款与转账"."""
    return f"{passage.source} § {passage.section}" if passage.section else passage.source


def _sentences(text: str) -> list[str]:
    return [s for s in (clean_for_speech(p) for p in _SPLIT.split(text)) if s]


_CJK_RUN: Final = re.compile(r"[0-9\u3400-\u9fff]+")
_STOP_BIGRAMS: Final = frozenset("多少 什么 怎么 可以 需要 办理 请问 是否 哪些 如何 有没 没有 一下 你们 我们 "
                                 "要多 我要 我想 想要 么办".split())


_CN_SMALL: Final = {c: str(i) for i, c in enumerate("零一二三四五六七八九十")} | {"两": "2"}
_CN_COUNT: Final = re.compile(r"([零一二两三四五六七八九十])(?=年|个月|月|天|日|万|元|位|号)")
_DIGIT_GAP: Final = re.compile(r"(?<=\d)\s+(?=[\u3400-\u9fff])|(?<=[\u3400-\u9fff])\s+(?=\d)")
_EN_SMALL: Final = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten".split())}
_EN_COUNT: Final = re.compile(r"\b(" + "|".join(_EN_SMALL) + r")\b", re.IGNORECASE)


def terms(text: str) -> set[str]:
    """jieba words plus Chinese character bigrams (robust to segmentation) and English word
    pairs ("1 year" beats "2 years" for "a one year deposit"); 三年 = 3 年, one = 1."""
    text = _EN_COUNT.sub(lambda m: _EN_SMALL[m.group(1).lower()], text)
    text = _DIGIT_GAP.sub("", _CN_COUNT.sub(lambda m: _CN_SMALL[m.group(1)], text))
    words = tokenize(_CJK_RUN.sub(lambda m: m.group(0) if m.group(0).isdigit() else " ; ", text))
    out = set(tokenize(text)) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    for run in _CJK_RUN.findall(text):
        out |= {run[i:i + 2] for i in range(len(run) - 1)} - _STOP_BIGRAMS
        if len(run) == 1:
            out.add(run)
    return out


def _overlap(wanted: set[str], text: str) -> int:
    return len(wanted & terms(text))


def _weights(wanted: set[str], texts: Sequence[str]) -> dict[str, float]:
    """IDF of the question's terms over these texts: a word every text has decides nothing."""
    sets = [terms(t) for t in texts]
    return {w: math.log((len(sets) + 1) / (sum(w in s for s in sets) + 0.5)) for w in wanted}


def _score(weights: dict[str, float], text: str) -> float:
    return sum(weights[w] for w in weights.keys() & terms(text))


def excerpt(question: str, passage: Passage, language: str, settings: AnswerSettings,
            limit: int | None = None) -> str:
    """The passage's sentences that share most words with the question, in reading order."""
    wanted = terms(question)
    sentences = _sentences(passage.text)
    if not sentences:
        return ""
    weights = _weights(wanted, sentences)
    scored = sorted(range(len(sentences)), key=lambda i: (-_score(weights, sentences[i]), i))
    if limit is None:
        limit = settings.max_chars_zh if language == "zh" else settings.max_chars_en
    chosen: list[int] = []
    for i in scored[: settings.extractive_sentences]:
        size = sum(len(sentences[j]) for j in chosen) + len(sentences[i])
        if not chosen or size <= limit:
            chosen.append(i)
    picked = [sentences[i] for i in sorted(chosen)]
    if language == "zh":
        picked = [p if p[-1] in "。！？；" else p + "；" for p in picked]
        last = picked[-1].rstrip("；")
        picked[-1] = last if last[-1] in "。！？" else last + "。"
    text = (" " if language == "en" else "").join(picked)
    if len(text) > limit * 2:  # one giant list item: cut at a comma for speech
        cut = max(text.rfind(c, 0, limit) for c in "，,；;")
        text = text[: cut if cut > 0 else limit] + ("……" if language == "zh" else "...")
    return text


def extractive(question: str, passage: Passage, language: str, settings: AnswerSettings) -> str:
    """The spoken extractive answer: the excerpt, introduced by the document's title."""
    text = excerpt(question, passage, language, settings)
    if not text:
        return ""
    if language == "zh":
        return f"根据《{passage.title}》：{text}"
    return f"From our \"{passage.title}\": {text}"


def _coverage(question: str, text: str) -> int:
    """How many of the question's words the passage has; a price question's price words count
    as one, met by any word a fee table uses (免费, 每笔, fee...)."""
    have = set(tokenize(text))
    if not asks_price(question):
        return len(set(tokenize(question)) & have)
    words = set(tokenize(without_price_words(question)))  # 手续费 and 手续 are one price word
    words = {w for w in words if not any(w in price for price in PRICE_TERMS)}
    return len(words & have) + bool(PRICE_TERMS & have)


def _relevant(question: str, results: Sequence[SearchResult], language: str) -> list[Passage]:
    """Passages sharing enough words with the question; customer's language, best match first.

    Enough = two of the question's content words (one if it has only one): a single shared
    word such as "bring" is how "Can I bring my dog?" finds the documents checklist. Dense-only
    hits count too when they share the words. Order: how many of the question's words the
    passage covers, then IDF-weighted overlap, then hub rank.
    """
    asked = terms(question)
    need = min(2, len(asked))
    wanted = asked | terms(expand_query(question))
    same = [r.passage for r in results if r.passage.lang in ("", language)]
    weights = _weights(wanted, [p.index_text() for p in same] or [""])
    for w in wanted - asked:  # the customer's own words decide; a fee table's words help
        weights[w] *= EXPANSION_WEIGHT
    kept = [(r.passage, _coverage(question, r.passage.index_text()),
             _score(weights, r.passage.index_text()), rank)
            for rank, r in enumerate(results)
            if need and _overlap(wanted, r.passage.index_text()) >= need]
    kept.sort(key=lambda k: (k[0].lang not in ("", language), -k[1], -k[2], k[3]))
    return [k[0] for k in kept]


def supported_share(text: str, passages: Sequence[Passage]) -> float:
    """Share of the sentence's words (Chinese bigrams) that the passages contain."""
    said = terms(text)
    if not said:
        return 1.0
    known: set[str] = set()
    for p in passages:
        known |= terms(p.index_text())
    return len(said & known) / len(said)


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text).lower()


def _without_headings(text: str, passages: Sequence[Passage]) -> str:
    """Drop document titles and headings the model echoed; a bare heading leaves nothing."""
    for p in passages:
        for heading in (f"{p.title} - {p.section}", f"{p.title} > {p.section}", p.title):
            if heading.strip():
                text = text.replace(heading, " ")
        if p.section and _key(text) == _key(p.section):
            return ""
    text = re.sub(r"^[\s\-–:：，,、。.]+", "", text).strip()
    return text if re.search(r"[\w\u3400-\u9fff]", text) else ""


class Answerer:
    """Retrieval, then a grounded LLM answer, else an extractive one, else "please ask staff"."""

    def __init__(self, hub: Searcher, engine: LlmTier | None,
                 settings: AnswerSettings | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.engine = engine
        self.settings = settings or AnswerSettings()
        self._clock = clock

    def answer(self, question: str, language: str = "zh",
               audience: Literal["customer", "staff"] = "customer",
               deadline_s: float | None = None, cancel: threading.Event | None = None,
               on_sentence: Callable[[str], None] | None = None) -> Answer:
        """Answer one question; `on_sentence` receives each checked sentence of a grounded
        answer (model or extractive) as soon as it is; a "none" answer is not said, the caller
        chooses what to say instead (its text is the generic "please ask staff")."""
        lang = "en" if language.startswith("en") else "zh"
        say = on_sentence or (lambda _s: None)
        started = self._clock()
        passages = _relevant(question, self.hub.search(question, self.settings.top_k,
                                                       audience), lang)
        if not passages:
            return Answer(DONT_KNOW[lang], lang, (), "none", fallback_reason="no passage")
        stats = CallStats()
        reason = "no model"
        if self.engine is not None:
            spent = self._clock() - started  # retrieval counts against the first sentence
            llm, reason = self._generate(question, lang, passages, spent, deadline_s, cancel,
                                         say, stats)
            if llm is not None:
                return llm
        if cancel is not None and cancel.is_set():
            return Answer("", lang, (), "none", tuple(passages), None, stats, "cancelled")
        same = [p for p in passages if p.lang in ("", lang)]
        text = extractive(question, same[0], lang, self.settings) if same else ""
        if not text:
            return Answer(DONT_KNOW[lang], lang, (), "none", tuple(passages), None, stats,
                          "no passage in the customer's language")
        say(text)
        return Answer(text, lang, (cite(same[0]),), "extractive", tuple(passages),
                      check(text, [same[0]]), stats, reason)

    def _prompt(self, question: str, lang: str, passages: Sequence[Passage]) -> str:
        """Only each passage's most relevant sentences: prefill time is the first-sentence
        latency on 2 cores (~10 ms a token), so the prompt stays near 150 tokens."""
        limit = self.settings.passage_chars
        # no titles or headings in the prompt: the 0.5B demo model copied them into its answer
        blocks = [f"[{n}] {excerpt(question, p, lang, self.settings, limit) or p.text[:limit]}"
                  for n, p in enumerate(passages, start=1)]
        label = "资料" if lang == "zh" else "Passages"
        ask = "问题" if lang == "zh" else "Question"
        return f"{label}:\n" + "\n\n".join(blocks) + f"\n\n{ask}: {question.strip()}"

    def _generate(self, question: str, lang: str, passages: list[Passage], spent: float,
                  deadline_s: float | None, cancel: threading.Event | None,
                  say: Callable[[str], None], stats: CallStats) -> tuple[Answer | None, str]:
        """The LLM's answer, sentence by sentence through the guard; (None, why) to fall back."""
        assert self.engine is not None
        shown = passages[: self.settings.prompt_passages]
        spoken: list[str] = []
        cited: set[int] = set()
        reason = ""
        total = deadline_s if deadline_s is not None else self.settings.deadline_s
        stream = self.engine.stream_answer(
            _SYSTEM[lang], self._prompt(question, lang, shown), max(0.0, total - spent),
            self.settings.max_new_tokens, cancel, stats,
            max(0.0, self.settings.first_sentence_s - spent))
        try:
            for sentence in stream:
                if re.search(rf"\b{NOT_FOUND}\b", sentence):  # "[1] NONE" seen from the demo model
                    reason = "model found no answer"
                    break
                marks = {int(n) for m in _CITE.findall(sentence)
                         for n in re.split(r"[,，]", m) if n.strip().isdigit()}
                marks = {n for n in marks if 1 <= n <= len(shown)}
                evidence = [shown[n - 1] for n in marks] or shown
                text = _without_headings(strip_citations(sentence), shown)
                if not text:
                    continue  # a bare heading or citation: nothing to say
                if _key(text) in {_key(t) for t in spoken}:
                    break  # the model started repeating itself
                report = check(text, evidence)
                if not report.ok:
                    reason = (f"unsupported numbers {list(report.unsupported_numbers)}"
                              if report.unsupported_numbers else "promise of returns")
                    break
                support = supported_share(text, evidence)
                if support < self.settings.min_support:
                    reason = f"sentence not from the passages ({support:.0%} of its words)"
                    break
                cited |= marks or set(range(1, len(shown) + 1))
                spoken.append(text)
                say(text)
                if len(spoken) >= self.settings.max_sentences:
                    break
        finally:
            stream.close()  # stops generation and frees the engine for the next call
        if not spoken:
            return None, reason or f"LLM gave no sentence ({stats.stop or 'no output'})"
        joiner = " " if lang == "en" else ""
        used = [shown[n - 1] for n in sorted(cited)]
        text = joiner.join(spoken)
        return Answer(text, lang, tuple(cite(p) for p in used), "llm", tuple(passages),
                      check(text, used), stats), ""
