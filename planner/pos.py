"""Part-of-speech candidates of English words, from lemminflect's lexicon (MIT; data ships in the wheel).

No tagger and no model download: a word's candidates are every universal POS tag the lexicon lists for it
("grey": ADJ, NOUN, VERB). The parser uses them where a word list would otherwise have to grow: whether a
word can head a noun phrase, is only an adjective, or is a finite verb ("rides", "is").
"""

from __future__ import annotations

from functools import lru_cache

from lemminflect import getAllLemmas, getInflection


@lru_cache(maxsize=8192)
def tags(word: str) -> frozenset[str]:
    """Universal POS tags ``word`` can have; empty for a word the lexicon does not know."""
    return frozenset(getAllLemmas(word.lower()))


def can_be_noun(word: str) -> bool:
    return "NOUN" in tags(word) or "PROPN" in tags(word)


def clearly_noun(word: str) -> bool:
    """A noun that is not also an adjective, adverb or function word ("umbrella", "dog"; not "grey", "close")."""
    found = tags(word)
    return bool(found) and "NOUN" in found and not found & {"ADJ", "ADV", "AUX", "ADP", "DET", "PRON"}


def only_adjective(word: str) -> bool:
    """An adjective that cannot head a noun phrase ("snowy", "wooden")."""
    found = tags(word)
    return "ADJ" in found and not found & {"NOUN", "PROPN"}


def finite_verb(word: str) -> bool:
    """A verb in its base or third-person form that is not also a noun or adjective ("ride", "kneels", "is");
    participles ("sleeping", "potted") modify nouns and do not count."""
    found = getAllLemmas(word.lower())
    if not set(found) & {"VERB", "AUX"} or set(found) & {"NOUN", "PROPN", "ADJ"}:
        return False
    lemma = (found.get("VERB") or found.get("AUX"))[0]
    return (
        word in {lemma, lemma + "s", lemma + "es"}
        or lemma == "be"
        and word in {"is", "are", "was", "were", "am"}
    )


def past_verb(word: str) -> bool:
    """An irregular simple past that is only a verb ("sat", "stood", "rode"); a regular one ("parked") is
    also a participle that modifies nouns and does not count."""
    found = getAllLemmas(word.lower())
    if set(found) - {"VERB"} or "VERB" not in found or word.endswith("ed"):
        return False
    return word in getInflection(found["VERB"][0], "VBD")


def base_verb(word: str) -> bool:
    """A verb's base form, as after an infinitive's "to" ("swing", "catch"; not "swings", "caught")."""
    found = getAllLemmas(word.lower())
    return "VERB" in found and word in found["VERB"]


def can_be_verb(word: str) -> bool:
    """A word that can be a verb and is otherwise at most a noun ("watch", "has", "ride"; not "close", "like")."""
    found = tags(word)
    return bool(found & {"VERB", "AUX"}) and found <= {"VERB", "AUX", "NOUN"}


def participle(word: str) -> str:
    """The -ing form of a verb ("watch" -> "watching", "has" -> "having"); the word itself when unknown."""
    found = getAllLemmas(word.lower())
    lemma = (found.get("VERB") or found.get("AUX") or (word,))[0]
    return (getInflection(lemma, "VBG") or (word,))[0]
