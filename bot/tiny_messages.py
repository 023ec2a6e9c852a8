"""Tiny messages: acknowledgements, single words, bare verbs and emoji never pick a script.

Lexical similarity on one or two words is noise ("ok" looked like supabase.health, "done" like
jira.sprint), and a wrong script is far worse than an LLM call. So a message with fewer than two
content words reaches a script only through the explicit `run NAME` form or a registry pattern that
matches the whole message. A pure acknowledgement ("ok", "thanks", "got it", 👍) is answered at 0 tokens
and never reaches the LLM either, so a thread follow-up like that cannot run anything.
"""

from __future__ import annotations

import re
import unicodedata

# Words that carry no request on their own: acknowledgements, thanks, greetings, filler.
ACK_WORDS = frozenset("""
ok okay okey oki k kk kay alright aight thanks thank thx thnx ty tysm tyvm cheers cool great nice good
awesome perfect sweet lovely excellent brilliant amazing got gotcha noted ack acked roger understood
ah aha oh ooh hmm hm mhm wow lol haha hehe heh yay welcome np nvm
""".split())
ACK_FILLER = frozenset("""it that that's thats this you u all so much very a lot again for the then will
will do sounds makes sense looks works fine now""".split())
FILLER_WORDS = ACK_WORDS | frozenset("""yes yeah yep yup ya sure no nope nah hi hello hey yo morning evening
bye later please pls plz""".split())
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_WORD = re.compile(r"[a-z0-9][a-z0-9'’-]*")


def content_words(text: str) -> list[str]:
    """The words that could say what to run: the router's tokens minus greetings and acknowledgements."""
    from bot.words import tokens

    return [t for t in tokens(_SHORTCODE.sub(" ", text)) if t not in FILLER_WORDS]


def _is_emoji_only(text: str) -> bool:
    rest = _SHORTCODE.sub("", text)
    symbols = [c for c in rest if not c.isspace() and unicodedata.category(c) not in ("Po", "Mn", "Cf")]
    emoji = [c for c in symbols if unicodedata.category(c) == "So"]
    return (bool(emoji) or rest != text) and len(emoji) == len(symbols)


def is_acknowledgement(text: str) -> bool:
    """"ok", "thanks!", "got it 👍", "ok cool, thanks a lot", ":+1:", "🙏" — nothing to do."""
    from bot.words import STOPWORDS

    lowered = text.lower().strip()
    if not lowered:
        return False
    if _is_emoji_only(lowered):
        return True
    words = [w.strip("'’-") for w in _WORD.findall(_SHORTCODE.sub(" ", lowered))]
    leftover = re.sub(r"[\W_]+", "", _WORD.sub("", _SHORTCODE.sub("", lowered)))
    if leftover and not _is_emoji_only(_WORD.sub("", lowered)):
        return False
    return bool(words) and any(w in ACK_WORDS for w in words) and all(
        w in ACK_WORDS or w in ACK_FILLER or w in STOPWORDS for w in words)


def too_short(text: str) -> bool:
    """Fewer than two content words: no lexical match may pick a script for it."""
    return len(content_words(text)) < 2
