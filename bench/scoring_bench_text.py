"""Comments for bench/scoring_bench.py: English, with a news site's long tail of lengths.

Word counts are lognormal (median 30, 90th percentile about 120, one in a hundred past
about 370), so most comments are a sentence or two and a few run past the model's 512
tokens, where the tokenizer truncates them. Words come from a list of common English
words, which the bench's vocabulary holds whole: the language detector must read them
as English, or the worker would hold them for review instead of scoring them with
`original`, and a comment's token count stays close to its word count, as with a real
English WordPiece vocabulary.
"""

from __future__ import annotations

import math
import random

MEDIAN_WORDS = 30
P90_WORDS = 120
MIN_WORDS = 3
MAX_WORDS = 900
_Z90 = 1.2816  # the standard normal's 90th percentile

# A word list reads better as text than as 500 quoted items.
_WORD_LIST = """
the a an and or but of to in on at for with from by about as into over after before
under between against during without within through around among since until than is are
was were be been being have has had do does did will would can could should may might
must shall not no yes very more most less least so too just only also even still again
never always often sometimes already yet soon now then here there today yesterday
tomorrow tonight week month year years time times day days night morning i you he she we
they me him her us them my your his our their mine yours this that these those it its
who whom whose which what why how when where whatever whoever article story report
reporter editor paper page headline news column opinion letter reader readers comment
comments writer writers journalist journalists coverage source city town village county
state country nation region district neighbourhood community council councillor mayor
minister government parliament senate congress committee party parties election
elections vote votes voters ballot campaign candidate leader police officer officers
court judge jury trial law laws rule rules rights justice school schools teacher
teachers student students university college class lesson hospital doctor doctors nurse
nurses patient patients health care clinic medicine road roads street streets bridge
traffic bus buses train trains station parking car house houses housing home homes rent
rents price prices cost costs money budget tax taxes bill bills fee fees wage wages job
jobs work worker workers company business market markets shop shops bank banks loan
loans debt economy growth plan plans water power energy fuel gas oil weather rain snow
storm flood floods fire summer winter spring autumn park parks river lake beach garden
farm farmers food field people person family families children child parents mother
father friend friends neighbour neighbours man woman men women kids young old older
elderly residents good great bad better worse best worst true false right wrong fair
unfair honest clear simple hard easy big small large long short high low new early late
local public private free open closed safe dangerous important serious real whole main
agree disagree think thought know knew say said says believe hope wish want need thanks
thank please sorry well sure maybe perhaps probably certainly really quite make made
take took give gave get got see saw look looked find found keep kept pay paid spend
spent build built fix fixed change changed help helped start started stop stopped call
called ask asked tell told read write wrote listen heard feel felt move moved live lived
stay stayed leave left bring brought show showed try tried because if although while
unless whether though however therefore instead otherwise every each any some many much
few several other another same different own such first second third last next one two
three four five ten hundred thousand million problem problems question questions answer
answers idea ideas point points fact facts issue issues reason reasons result results
decision decisions policy policies service services project projects system systems
money support protest protests meeting meetings vote decision proposal proposals change
changes future past history everyone nobody somebody anyone everything nothing something
anything enough
""".split()  # noqa: SIM905
WORDS: tuple[str, ...] = tuple(dict.fromkeys(_WORD_LIST))

_ENDINGS = (".", ".", ".", "!", "?", "...")


def lengths(rng: random.Random, count: int) -> list[int]:
    """Word counts with the long tail described above."""
    mu = math.log(MEDIAN_WORDS)
    sigma = math.log(P90_WORDS / MEDIAN_WORDS) / _Z90
    return [
        min(MAX_WORDS, max(MIN_WORDS, round(rng.lognormvariate(mu, sigma)))) for _ in range(count)
    ]


def comment(rng: random.Random, words: int, number: int) -> str:
    """A comment of `words` words in sentences of 5 to 20; `number` makes it unique, so
    the spam signals see no duplicate text."""
    sentences: list[str] = []
    left = words
    while left > 0:
        size = min(left, rng.randint(5, 20))
        left -= size
        chosen = [rng.choice(WORDS) for _ in range(size)]
        if left == 0:  # stands in for the names and figures real comments differ by
            chosen.append(str(number))
        if size > 8 and rng.random() < 0.4:  # a clause: one more token, as in real prose
            chosen[rng.randrange(2, size - 2)] += ","
        text = " ".join(chosen)
        sentences.append(text[0].upper() + text[1:] + rng.choice(_ENDINGS))
    return " ".join(sentences)


def comments(rng: random.Random, count: int, first_number: int = 0) -> list[str]:
    return [
        comment(rng, words, first_number + index) for index, words in enumerate(lengths(rng, count))
    ]
