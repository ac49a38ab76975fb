"""Letters of one script that pass for letters of another: "Admin" with a Cyrillic A.

A word mixing scripts this way is a disguise, in a comment (a spam signal) and in a
reader's name (refused: it would pass for another's); a word in one script, or mixing
scripts with letters that look like nothing else, is someone writing two languages.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+")
_CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN")


def _letters(script: str, case: str, latin: dict[str, str]) -> dict[str, str]:
    """`script`'s letters of `case`, by name, each with the Latin letter it passes for."""
    return {unicodedata.lookup(f"{script} {case} LETTER {n}"): to for n, to in latin.items()}


# Letters of other scripts that pass for a Latin one, each with the letter it mimics. A
# minority letter outside these (the KA of "SMS" + Cyrillic "ka") is someone writing two
# languages, not a disguise.
_AS_LATIN = {
    **_letters("CYRILLIC", "SMALL", {"A": "a", "IE": "e", "O": "o", "ER": "p", "ES": "c"}),
    **_letters("CYRILLIC", "SMALL", {"U": "y", "HA": "x", "BYELORUSSIAN-UKRAINIAN I": "i"}),
    **_letters("CYRILLIC", "SMALL", {"JE": "j", "DZE": "s", "KOMI DE": "d", "SHHA": "h"}),
    **_letters("CYRILLIC", "SMALL", {"QA": "q", "WE": "w", "PALOCHKA": "l"}),
    **_letters("CYRILLIC", "CAPITAL", {"A": "A", "VE": "B", "IE": "E", "KA": "K", "EM": "M"}),
    **_letters("CYRILLIC", "CAPITAL", {"EN": "H", "O": "O", "ER": "P", "ES": "C", "TE": "T"}),
    **_letters("CYRILLIC", "CAPITAL", {"HA": "X", "JE": "J", "DZE": "S"}),
    **_letters("CYRILLIC", "CAPITAL", {"BYELORUSSIAN-UKRAINIAN I": "I"}),
    **_letters("GREEK", "SMALL", {"OMICRON": "o", "ALPHA": "a", "RHO": "p", "IOTA": "i"}),
    **_letters("GREEK", "SMALL", {"NU": "v"}),
    **_letters("GREEK", "CAPITAL", {"ALPHA": "A", "BETA": "B", "EPSILON": "E", "ZETA": "Z"}),
    **_letters("GREEK", "CAPITAL", {"ETA": "H", "IOTA": "I", "KAPPA": "K", "MU": "M"}),
    **_letters("GREEK", "CAPITAL", {"NU": "N", "OMICRON": "O", "RHO": "P", "TAU": "T"}),
    **_letters("GREEK", "CAPITAL", {"UPSILON": "Y", "CHI": "X"}),
    **_letters("ARMENIAN", "SMALL", {"OH": "o", "SEH": "u", "VO": "n", "HO": "h", "CO": "g"}),
    **_letters("ARMENIAN", "SMALL", {"ZA": "q"}),
}
_TO_LATIN = str.maketrans(_AS_LATIN)
# Letters that pass for a letter of another script, by their own script.
_LOOKALIKES = {
    script: frozenset(c for c in _AS_LATIN if unicodedata.name(c).startswith(script))
    for script in ("CYRILLIC", "GREEK", "ARMENIAN")
} | {"LATIN": frozenset("aeopcyxijsABEKMHOPCTX")}


# Greek letters that science writes among Latin ones; none of them looks Latin.
_SYMBOLS = frozenset(
    "\u0394\u03b4\u03bc\u03c0\u03a9\u03c9\u03a3\u03c3\u03bb\u03b8\u03c6\u03c8\u03b2\u03b3\u03b5"
)


def disguised_word(text: str, shortest: int = 1) -> str | None:
    """The first word of `text`, of `shortest` letters or more, spelled with letters of
    another script, if any."""
    if text.isascii():  # one script: most texts stop here
        return None
    words = (word for word in _WORD.findall(text) if len(word) >= shortest)
    return next((word for word in words if reads_as(word) is not None), None)


def reads_as(word: str) -> str | None:
    """The script `word` reads as when it mixes scripts and every letter of the others
    mimics that one; else None. Not only the script of most of its letters: "Moderator"
    spelled with five Cyrillic letters that look Latin around four Latin ones is mostly
    Cyrillic, and reads as Latin."""
    if word.isascii():
        return None
    scripts: dict[str, list[str]] = {}
    for char in word:
        script = script_of(char)
        if script:
            scripts.setdefault(script, []).append(char)
    if len(scripts) < 2:
        return None
    return next(
        (
            read_as
            for read_as in scripts
            if all(
                c in _LOOKALIKES[other]
                for other, chars in scripts.items()
                if other != read_as
                for c in chars
            )
        ),
        None,
    )


def unmasked(text: str) -> str:
    """`text` with each word that reads as Latin in letters of other scripts spelled in the
    Latin letters it mimics ("scum" with a Cyrillic dze and es is "scum"); words in one
    script stay as they are, so a Russian word spelled like "cop" is not the English one."""
    if text.isascii():
        return text
    return _WORD.sub(lambda m: _unmask(m.group(0)), text)


def _unmask(word: str) -> str:
    return word.translate(_TO_LATIN) if reads_as(word) == "LATIN" else word


def script_of(char: str) -> str:
    """The confusable script `char` is a letter of, else ''. Not the Greek letters that
    science writes among Latin ones ("ΔpH", "μPa", "β-blockers"), which look like no
    Latin letter: there they are symbols, not a second script."""
    if not char.isalpha() or char in _SYMBOLS:
        return ""
    script = unicodedata.name(char, "").split(" ", 1)[0]
    return script if script in _CONFUSABLE_SCRIPTS else ""
