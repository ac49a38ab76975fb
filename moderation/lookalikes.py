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


def _letters(script: str, case: str, names: str) -> frozenset[str]:
    return frozenset(unicodedata.lookup(f"{script} {case} LETTER {n}") for n in names.split(","))


# Letters that pass for a letter of another script. A minority letter outside these sets
# (the KA of "SMS" + Cyrillic "ka") is someone writing two languages, not a disguise.
_LOOKALIKES = {
    "CYRILLIC": _letters("CYRILLIC", "SMALL", "A,IE,O,ER,ES,U,HA,BYELORUSSIAN-UKRAINIAN I,JE,DZE")
    | _letters("CYRILLIC", "SMALL", "KOMI DE,SHHA,QA,WE,PALOCHKA")
    | _letters("CYRILLIC", "CAPITAL", "A,VE,IE,KA,EM,EN,O,ER,ES,TE,HA,JE,DZE")
    | _letters("CYRILLIC", "CAPITAL", "BYELORUSSIAN-UKRAINIAN I"),
    "GREEK": _letters("GREEK", "SMALL", "OMICRON,ALPHA,RHO,IOTA,NU")
    | _letters("GREEK", "CAPITAL", "ALPHA,BETA,EPSILON,ZETA,ETA,IOTA,KAPPA,MU,NU,OMICRON,RHO")
    | _letters("GREEK", "CAPITAL", "TAU,UPSILON,CHI"),
    "LATIN": frozenset("aeopcyxijsABEKMHOPCTX"),
    "ARMENIAN": _letters("ARMENIAN", "SMALL", "OH,SEH,VO,HO,CO,ZA"),
}


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
    return next((word for word in words if _is_homoglyph_word(word)), None)


def _is_homoglyph_word(word: str) -> bool:
    return reads_as(word) is not None


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


# The Latin letter each lookalike of another script passes for.
_TO_LATIN = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u0501\u04bb\u051b\u051d\u04cf"
    "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0425\u0408\u0405\u0406"
    "\u03bf\u03b1\u03c1\u03b9\u03bd"
    "\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
    "\u0585\u057d\u0578\u0570\u0581\u0566",
    "aeopcyxijsdhqwlABEKMHOPCTXJSIoapivABEZHIKMNOPTYXounhgq",
)


def script_of(char: str) -> str:
    """The confusable script `char` is a letter of, else ''. Not the Greek letters that
    science writes among Latin ones ("ΔpH", "μPa", "β-blockers"), which look like no
    Latin letter: there they are symbols, not a second script."""
    if not char.isalpha() or char in _SYMBOLS:
        return ""
    script = unicodedata.name(char, "").split(" ", 1)[0]
    return script if script in _CONFUSABLE_SCRIPTS else ""
