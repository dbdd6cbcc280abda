"""Chat on top of retrieval, with no language model: pure functions shared by the
OpenAI-compatible endpoint, the chat page and the MCP server.

Two steps:

* :func:`resolve_question` turns a conversation into one search query. A short follow-up
  ("and what about stateless persons?") is searched together with the question before it.
  The rule and its measurement are in ``docs/chat.md``.
* :func:`compose_answer` turns ranked hits into an extractive answer: the best highlighted
  sentence(s), each followed by the marker ``[n]`` of its passage, then the cited passages
  numbered ``[1]``..``[k]`` in Markdown with document title, section and page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from service.search.confidence import Confidence
from service.search.serialise import citation_label, passage_out
from service.search.types import Citation, Hit

# -- follow-up resolution ---------------------------------------------------------------

# Words that carry no topic of their own: function words and the verbs of asking.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    here how i if in into is just let may me might more most must my no nor not now of off on once only or
    other our out over own please same say says said shall should so some such tell than that the then there
    these they this those through to too under until up very was we were what when where which while who whom
    why will with would yes you your it its itself they them their theirs he him his she her hers
    this that these those one ones anything something thing things kind else
    explain describe show give find mean means know want need apply applies provide provides provided regarding
    concerning treaty treaties convention conventions article articles
    """.split()
)
# A follow-up often opens with one of these.
CONNECTIVES = tuple(
    "and|also|but|or|so|then|plus|what about|how about|what of|as for|as to|same for|what if".split("|")
)
# Pronouns and demonstratives that point back at something said earlier (when no content word
# of the message comes before them: in "can a refugee be expelled where his life is threatened?"
# "his" is the refugee).
ANAPHORA = frozenset(
    "it its itself they them their theirs this that these those he him his she her such there former latter same".split()
)
MAX_CONTENT_WORDS = 2  # "and stateless persons?" is a follow-up; "right to education of children" is not
MAX_CONTENT_WORDS_WITH_ANAPHORA = 5  # "does it also cover their family members?" is a follow-up
_WORD = re.compile(r"[\w'’-]+", re.UNICODE)
_ARTICLE_NUMBER = re.compile(r"\b(?:article|art\.?)\s*\d", re.IGNORECASE)


@dataclass(frozen=True)
class Resolution:
    """What to search for the last user message of a conversation."""

    question: str  # the last user message, as asked
    query: str  # what is searched: the question, or the question with the topic before it
    followup: bool  # the earlier topic was added
    reason: str  # why (or "standalone" / "first question")


def words(text: str) -> list[str]:
    return [w.strip("'’-").lower() for w in _WORD.findall(text) if w.strip("'’-")]


def content_words(text: str) -> list[str]:
    """Words that name a topic: not function words, not the verbs of asking."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def followup_reason(message: str) -> str | None:
    """Why ``message`` reads as a follow-up that needs the earlier topic, or ``None``."""
    lowered = " ".join(words(message))
    for connective in CONNECTIVES:
        if lowered == connective or lowered.startswith(connective + " "):
            return f"starts with {connective!r}"
    content = content_words(message)
    if len(content) <= MAX_CONTENT_WORDS and not _ARTICLE_NUMBER.search(message):
        return f"{len(content)} content word(s)"
    if len(content) <= MAX_CONTENT_WORDS_WITH_ANAPHORA:
        for word in words(message):
            if word in ANAPHORA:  # before any content word: nothing in the message it can point to
                return f"refers back with {word!r}"
            if word in content:
                break
    return None


def followup_query(previous: str, followup: str) -> str:
    """``<previous query> <follow-up> <the follow-up's content words>``: the earlier topic
    supplies what the follow-up leaves out, and the follow-up's own words count twice, so that
    what it changes ("and self-employment?") outweighs what it replaces."""
    own = " ".join(content_words(followup))
    return f"{previous} {followup} {own}".strip()


def resolve_question(user_messages: Sequence[str], max_chars: int = 2000, use_history: bool = True) -> Resolution:
    """The query for the last of ``user_messages`` (the user's turns, oldest first).

    A follow-up is searched with the query of the turn before it (:func:`followup_query`), so
    that a chain of follow-ups keeps the topic of the question that opened it; a standalone
    question starts afresh. The query is cut from the left to ``max_chars``.
    """
    turns = [m.strip() for m in user_messages if m and m.strip()]
    if not turns:
        raise ValueError("no user message")
    query, followup, reason = turns[0], False, "first question"
    for turn in turns[1:]:
        why = followup_reason(turn) if use_history else None
        if why is None:
            query, followup, reason = turn, False, "standalone"
        else:
            query, followup, reason = followup_query(query, turn), True, why
    if len(query) > max_chars:
        cut = query[len(query) - max_chars :]
        query = cut.split(" ", 1)[1] if " " in cut[:40] else cut
    return Resolution(question=turns[-1], query=query, followup=followup, reason=reason)


# -- the extractive answer --------------------------------------------------------------

SUMMARY_SENTENCES = 2  # at most this many highlighted sentences in the short answer
SECOND_SENTENCE_SCORE = 0.85  # a second passage's sentence joins only if it scores this close to the best
SENTENCE_CHARS = 400
EXCERPT_CHARS = 360
NO_ANSWER = "No passage in the indexed documents matches this question."
ABSTAINED = "The indexed documents do not appear to answer this question."


@dataclass(frozen=True)
class Source:
    """One cited passage: ``number`` is its marker ``[number]`` in the answer."""

    number: int
    hit: Hit

    @property
    def citation(self) -> Citation:
        return self.hit.citation


@dataclass(frozen=True)
class Answer:
    summary: str  # the short answer: sentence(s) with their markers, plain text
    markdown: str  # the whole reply: short answer, then the numbered sources
    sources: list[Source]
    confidence: float | None = None  # that the index answers at all (service.search.confidence)
    answered: bool = True  # False: the reply says the documents do not answer; nothing is quoted


def squash(text: str) -> str:
    """Runs of whitespace (line breaks of the PDF) as one space."""
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<#|])")


def md_escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _lead_sentence(hit: Hit) -> str:
    """The highlighted sentence, or the passage's opening when nothing was highlighted."""
    text = hit.passage.text
    if hit.highlight is not None:
        start, end = hit.highlight
        return clip(squash(text[start:end]), SENTENCE_CHARS)
    return clip(squash(text), SENTENCE_CHARS // 2)


def excerpt(hit: Hit, limit: int = EXCERPT_CHARS) -> str:
    """The passage around its highlight, at most ``limit`` characters, highlight in bold (Markdown)."""
    text = hit.passage.text
    if hit.highlight is None:
        return md_escape(clip(squash(text), limit))
    start, end = hit.highlight
    before, marked, after = squash(text[:start]), squash(text[start:end]), squash(text[end:])
    marked = clip(marked, limit)
    room = max(0, limit - len(marked))
    left = before[-(room // 2) :] if room // 2 else ""
    if len(left) < len(before):
        left = "…" + left.split(" ", 1)[-1] if " " in left else "…"
    right_room = max(0, limit - len(marked) - len(left))
    right = clip(after, right_room) if right_room else ("…" if after else "")
    pieces = [md_escape(left), f"**{md_escape(marked)}**", md_escape(right)]
    return " ".join(p for p in pieces if p)


def abstention(sources: list[Source], confidence: Confidence) -> Answer:
    """The reply when the index does not answer: it says so, and names the nearest passages
    without quoting them (a quote would read as an answer)."""
    lines = [ABSTAINED, ""]
    if sources:
        lines += ["The nearest passages, which do not answer it:", ""]
        lines += [f"[{s.number}] {md_escape(citation_label(s.citation))}  " for s in sources]
    markdown = "\n".join(lines).rstrip() + "\n"
    return Answer(ABSTAINED, markdown, sources, confidence=confidence.value, answered=False)


def compose_answer(hits: Sequence[Hit], confidence: Confidence | None = None) -> Answer:
    """The extractive reply for ranked ``hits`` (best first); with a ``confidence`` below
    its threshold, the :func:`abstention` instead."""
    sources = [Source(number, hit) for number, hit in enumerate(hits, 1)]
    if not sources:
        return Answer(summary=NO_ANSWER, markdown=NO_ANSWER, sources=[], confidence=0.0, answered=False)
    if confidence is not None and not confidence.answered:
        return abstention(sources, confidence)
    best = sources[0].hit.score
    chosen: list[tuple[str, int]] = []
    for source in sources:
        if len(chosen) == SUMMARY_SENTENCES:
            break
        if chosen and (source.hit.highlight is None or source.hit.score < SECOND_SENTENCE_SCORE * best):
            continue
        sentence = _lead_sentence(source.hit)
        if any(sentence == seen for seen, _ in chosen):
            continue
        chosen.append((sentence, source.number))
    summary = " ".join(f"{sentence} [{number}]" for sentence, number in chosen)
    lines = [" ".join(f"{md_escape(sentence)} [{number}]" for sentence, number in chosen), "", "**Sources**", ""]
    for source in sources:
        lines.append(f"[{source.number}] **{md_escape(citation_label(source.citation))}**  ")
        lines.append(f"> {excerpt(source.hit)}")
        lines.append("")
    markdown = "\n".join(lines).rstrip() + "\n"
    value = confidence.value if confidence is not None else None
    return Answer(summary=summary, markdown=markdown, sources=sources, confidence=value)


def source_json(source: Source) -> dict:
    """A cited passage as JSON: the ``citations`` field of a chat completion, the page's chips.
    A passage as ``/ask`` returns it, numbered and labelled."""
    passage = passage_out(source.hit).model_dump(mode="json")
    citation = passage.pop("citation")
    return {"number": source.number, **passage, "label": citation_label(source.citation), "citation": citation}


def stream_pieces(text: str, words_per_piece: int = 4) -> Iterable[str]:
    """``text`` cut into small pieces (a few words with their spacing) for a streamed reply."""
    tokens = re.findall(r"\S+\s*|\s+", text)
    for i in range(0, len(tokens), words_per_piece):
        yield "".join(tokens[i : i + words_per_piece])
