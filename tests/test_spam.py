"""The spam scorer as a specification: signals and their reasons, the classifier, its bytes."""

from __future__ import annotations

import json
import math
import random
import re

import pytest

from moderation.errors import SpamModelError
from moderation.links import URL, urls
from moderation.scoring.spam import (
    FORMAT_VERSION,
    SpamClassifier,
    SpamContext,
    WordTfidf,
    combine,
    load_seed_comments,
    load_seed_corpus,
    model_text,
    score_spam,
)
from moderation.scoring.spam_signals import (
    _PHRASE_PATTERNS,
    Signal,
    cased_letters,
    may_hold_phrase,
    spam_signals,
)
from moderation.sites import DEFAULT_THRESHOLDS

# The thresholds every site starts with: what the policy actually applies to these scores.
SPAM_HOLD_THRESHOLD = DEFAULT_THRESHOLDS["spam"].hold
SPAM_REJECT_THRESHOLD = DEFAULT_THRESHOLDS["spam"].reject

# Each in its own script and punctuation; ruff's ambiguity check would flag the Armenian full
# stop and the Turkish dotless i, which are exactly what these readers type.
HONEST = {
    "english": "Thanks for covering the council meeting; the library cuts deserve more attention.",
    "russian": "Спасибо за статью, очень интересно. Надеюсь, мэрия прислушается к жителям.",
    "armenian": "Շնորհակալություն հոդվածի համար, շատ կարևոր թեմա է։",  # noqa: RUF001
    "turkish": "Çok güzel bir haber, teşekkürler. Belediye bu konuda ne yapacak?",
    "azerbaijani": "Çox sağ olun, əla xəbərdir. Bu barədə daha çox yazın.",  # noqa: RUF001
}
SPAM = "Check out my channel and subscribe to my page!!! http://bit.ly/free-views whatsapp me"


def context(body: str, *, new_author: bool = False, **counts: int) -> SpamContext:
    base = {"author_recent": 0, "address_recent": 0, "duplicates": 0}
    return SpamContext(body=body, author_name="Reader", new_author=new_author, **base | counts)


def reasons(body: str, *, new_author: bool = False, **counts: int) -> list[str]:
    return [s.reason for s in spam_signals(context(body, new_author=new_author, **counts))]


def test_the_seed_corpus_is_all_three_videos_as_plain_text() -> None:
    texts, labels = load_seed_corpus()
    assert (len(texts), sum(labels)) == (350 + 350 + 438, 175 + 175 + 236)
    assert set(labels) == {0, 1}
    joined = "\n".join(texts)
    for markup in ("&amp;", "&#39;", "&quot;", "<br", 'class="ot-hashtag"', "\ufeff"):
        assert markup not in joined
    assert "I'm a human." in joined


def test_obvious_spam_scores_above_an_honest_comment(seed_classifier: SpamClassifier) -> None:
    spam, honest = score_spam(seed_classifier, [context(SPAM), context(HONEST["english"])])
    assert spam.score >= SPAM_REJECT_THRESHOLD
    assert honest.score < SPAM_HOLD_THRESHOLD
    assert spam.score > honest.score
    assert "URL shortener bit.ly" in spam.reasons
    assert honest.reasons == ()


@pytest.mark.parametrize("language", sorted(HONEST))
def test_an_honest_comment_in_any_language_fires_no_signal(language: str) -> None:
    assert reasons(HONEST[language], new_author=True) == []


@pytest.mark.parametrize("language", sorted(HONEST))
def test_an_honest_comment_in_any_language_is_not_held(
    seed_classifier: SpamClassifier, language: str
) -> None:
    [verdict] = score_spam(seed_classifier, [context(HONEST[language], new_author=True)])
    assert verdict.score < SPAM_HOLD_THRESHOLD


def test_links_count_against_a_new_author_more_than_a_known_one() -> None:
    body = "See https://example.com/a and www.example.org/b and murdev.com/free"
    assert "3 links from a new author" in reasons(body, new_author=True)
    assert "3 links" in reasons(body)
    assert reasons("Source: https://www.bbc.com/news/world-123") == []
    assert reasons("Source: https://www.bbc.com/news/world-123", new_author=True) == [
        "1 link from a new author"
    ]


# Readers citing their sources: test inputs written for these tests, not training data.
SOURCED = [
    "Source: https://www.bbc.com/news/uk-politics-68000000",
    "The council's own budget says otherwise, see page 12: https://www.camden.gov.uk/budget-2024",
    "Not true, the study was retracted last year: https://www.nature.com/articles/d41586-024-0001",
    "Wikipedia has a decent summary of the green belt rules https://en.wikipedia.org/wiki/Green_belt",
    "The mayor's full statement is here: https://www.facebook.com/citymayor/posts/12345",
    "Reuters has the court filing if anyone wants to read it https://www.reuters.com/legal/filing-2024/",
    "The mayor posted the full statement on Facebook: https://www.facebook.com/citymayor",
    "The minister's interview is on YouTube: https://www.youtube.com/watch?v=abc123",
]
# Channel promotion as the seed's YouTube spammers post it.
PROMOTION = [
    "Check out my channel for new music videos every week! http://www.youtube.com/user/xyzmusic",
    "Hey guys please subscribe to my channel, I make gaming videos www.youtube.com/channel/abc123",
    "Please visit my page and like it https://www.facebook.com/pages/cool-stuff/12345",
]


@pytest.mark.parametrize("body", SOURCED)
def test_a_new_author_citing_a_source_is_held_at_most_never_marked_spam(
    seed_classifier: SpamClassifier, body: str
) -> None:
    [verdict] = score_spam(seed_classifier, [context(body, new_author=True)])
    assert verdict.score < SPAM_REJECT_THRESHOLD
    assert "1 link from a new author" in verdict.reasons


@pytest.mark.parametrize("body", SOURCED)
def test_a_known_author_citing_a_source_is_not_held(
    seed_classifier: SpamClassifier, body: str
) -> None:
    [verdict] = score_spam(seed_classifier, [context(body)])
    assert verdict.score < SPAM_HOLD_THRESHOLD


@pytest.mark.parametrize("body", PROMOTION)
def test_channel_promotion_with_a_link_is_still_spam(
    seed_classifier: SpamClassifier, body: str
) -> None:
    [verdict] = score_spam(seed_classifier, [context(body, new_author=True)])
    assert verdict.score >= SPAM_REJECT_THRESHOLD


def test_the_classifier_reads_a_site_name_only_where_the_comment_does_not_link_that_site() -> None:
    assert model_text("Posted on Facebook: https://www.facebook.com/citymayor") == "posted on  :  "
    assert model_text("On YouTube (m.youtube.com/watch?v=1) and BBC") == "on   (  and bbc"
    assert model_text("Add me on Facebook") == "add me on facebook"
    assert model_text("Don't miss it https://t.co/x") == "don't miss it  "
    assert model_text("A bare scheme: http://?") == "a bare scheme:  "


def test_a_link_dropped_without_a_word_by_a_new_author_is_held(
    seed_classifier: SpamClassifier,
) -> None:
    [verdict] = score_spam(
        seed_classifier, [context("https://www.example-shop.com/p/123", new_author=True)]
    )
    assert verdict.score >= SPAM_HOLD_THRESHOLD
    assert "nothing but a link" in verdict.reasons
    assert "nothing but a link" not in reasons(
        "Source: https://www.bbc.com/news/x", new_author=True
    )


def test_a_missing_space_after_a_full_stop_is_not_a_link() -> None:
    assert reasons("I agree.It was the right call.Com on, council.", new_author=True) == []


def test_a_bare_domain_is_read_from_where_its_first_label_starts_and_nowhere_later() -> None:
    # Each later start walked the same labels to the same end: quadratic in the text.
    text = "see x.a.b-c.com/page or -y.net, not_z.com"
    assert urls(text) == ["x.a.b-c.com/page", "y.net"]
    assert [i for i in range(len(text)) if URL.match(text, i)] == [4, 25]


# As long as a site may allow, each shaped to make a backtracking regex try every start
# (bench/spam_worst_case.py times them; the start rule above is what keeps them linear).
WORST_CASE_LENGTH = 20_000
WORST_CASE_LINKS = {
    "a." * 10_000: [],
    "a-" * 10_000: [],
    "a-a." * 5_000: [],
    "ab." * 6_666 + "xy": [],
    "9." * 10_000: [],
    "a-" * 9_997 + "ab.com": ["a-" * 9_997 + "ab.com"],
    "a." * 9_997 + "ab.com": ["a." * 9_997 + "ab.com"],
}


@pytest.mark.parametrize("body", WORST_CASE_LINKS, ids=lambda body: f"{body[:4]}...{body[-4:]}")
def test_a_worst_case_body_of_dotted_or_hyphenated_labels_is_read_right(
    body: str,
) -> None:
    assert len(body) == WORST_CASE_LENGTH
    assert urls(body) == URL.findall(body) == WORST_CASE_LINKS[body]
    found = reasons(body, new_author=True)
    assert ("1 link from a new author" in found) == bool(WORST_CASE_LINKS[body])
    assert model_text(body).strip() == ("" if WORST_CASE_LINKS[body] else body)


@pytest.mark.parametrize("blank", [" ", "\t", "\n"])
def test_a_messenger_followed_by_a_sea_of_blanks_is_read_right(blank: str) -> None:
    body = "whatsapp" + blank * (WORST_CASE_LENGTH - 8)
    assert not may_hold_phrase(body)
    assert not any(pattern.search(body) for _, _, pattern in _PHRASE_PATTERNS)
    assert reasons(body[:-2] + "me") == ["contact phrase 'whatsapp me'"]
    assert reasons("kik:" + blank * WORST_CASE_LENGTH + "@seller") == [
        "contact phrase 'kik: @seller'"
    ]


@pytest.mark.parametrize(
    "url", ["http://bit.ly/3xYz", "goo.gl/abc", "https://t.co/Ab12", "cutt.ly/q"]
)
def test_a_url_shortener_is_named(url: str) -> None:
    host = url.removeprefix("http://").removeprefix("https://").split("/")[0]
    assert f"URL shortener {host}" in reasons(f"Amazing offer {url}")


def test_the_same_long_text_elsewhere_counts_short_replies_do_not() -> None:
    long_text = "Visit our store for the best deals on phones today"
    assert "same text posted 4 times" in reasons(long_text, duplicates=3)
    assert not any("same text" in r for r in reasons(long_text, duplicates=1))
    assert not any("same text" in r for r in reasons("Agreed!", duplicates=50))


def test_posting_fast_from_one_author_or_one_address_is_named() -> None:
    assert "6 comments in 10 minutes by this author" in reasons("Hi", author_recent=5)
    assert "12 comments in 10 minutes from this address" in reasons("Hi", address_recent=11)
    # A few comments from a shared address (an office, a mobile network) are normal.
    assert reasons("Hi", author_recent=2, address_recent=5) == []


def test_contact_ad_and_self_promotion_phrases_are_quoted() -> None:
    found = reasons(
        "Earn $500 a day working from home, whatsapp me or message me on telegram. "
        "Check out my channel!"
    )
    assert "contact phrase 'whatsapp me'" in found
    assert "contact phrase 'message me on telegram'" in found
    assert "ad phrase 'working from home'" in found
    assert "ad phrase 'earn $500'" in found
    assert "self-promotion 'check out my channel'" in found
    assert "contact phrase 'пишите в телеграм'" in reasons("Заработок от 5000, пишите в телеграм")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("Come and watch my video, the zombie movie", "self-promotion 'come and watch my video'"),
        ("care to visit my blog, I also have the collections", "self-promotion 'visit my blog'"),
        ("please look up DHG SONGS this is my playlist", "self-promotion 'this is my playlist'"),
        ("please look up my new playlist", "self-promotion 'look up my new playlist'"),
        ("Follow 4 Follow @ someone Like 4 Like", "self-promotion 'follow 4 follow'"),
        ("los invito a subscribirse a mi canal", "self-promotion 'subscribirse a mi canal'"),
        ("Like this comment if you're watching in 2015", "like-farming 'like this comment if you'"),
        (
            "how many people like this comment? I'll wait",
            "like-farming 'how many people like this comment'",
        ),
        ("first to 1 billion? give it a like", "like-farming 'give it a like'"),
    ],
)
def test_self_promotion_and_like_farming_are_quoted(body: str, reason: str) -> None:
    assert reason in reasons(body)


@pytest.mark.parametrize(
    "body", ["care to visit my blog sinar jahitan", "Check out my channel", "this is my playlist"]
)
def test_a_reader_promoting_their_own_channel_is_held_on_that_alone(body: str) -> None:
    # However much the classifier likes the words around it.
    assert combine(0.0, spam_signals(context(body))) >= DEFAULT_THRESHOLDS["spam"].hold


def test_readers_agreeing_or_pointing_at_the_story_promote_nothing() -> None:
    for body in (
        "I like this comment, well said.",
        "I really like this comment, well said.",
        "Anyone who doesn't like this comment should read the report first.",
        "I would like my comment restored, it broke no rules.",
        "Like for like, the new hospital has fewer beds than the old one.",
        "Look at my account of the meeting in yesterday's thread.",
        "Please see my website disclosure: I work for the council.",
        "The mayor should watch my video of the flooding on Mill Lane.",
        "Watch the full interview before judging, the clip is edited.",
        "My son's school lost three teachers; see my earlier comment for the figures.",
        "I watched my video doorbell footage and the van was there at 3am.",
        "I can't check my account since the bank's outage on Monday.",
        "Come see my street, the council hasn't swept it since June.",
        "This is my album of the year, the reviewer is way off.",
        "BBC Four: this is my channel of choice on a Sunday night.",
    ):
        assert reasons(body) == [], body


@pytest.mark.parametrize(
    "url",
    [
        "http://hackfbaccountlive.com/?ref=4436607",
        "http://www.prizerebel.com/index.php?r=1446084",
        "http://www.gcmforex.com/partners/aw.aspx?Task=JoinT2&AffiliateID=9107",
        "https://www.paidverts.com/ref/tomuciux99",
    ],
)
def test_a_link_with_a_referral_code_is_named(url: str) -> None:
    assert "referral link" in reasons(f"Free stuff {url}")


def test_a_source_without_a_referral_code_is_not_a_referral_link() -> None:
    for url in (
        "https://www.reuters.com/legal/filing-2024/",
        "https://www.bbc.com/news/uk-politics-68000000?at_medium=RSS",
        "https://example.org/search?q=ref&page=2",
        "https://www.ons.gov.uk/economy?ref=homepage",
        "https://www.nytimes.com/2024/01/02/us/story.html?partner=rss&emc=rss",
        "https://www.theguardian.com/reference/style-guide",
    ):
        assert "referral link" not in reasons(f"Source: {url}"), url


@pytest.mark.parametrize(
    "body",
    [
        "do vote daily for her: tv.  mtvema. com/vote (delete spaces)",
        "my shop: greatdeals .com (remove the spaces)",
        "cheap watches at luxurywatch[dot]shop",
        "find me at mysite (dot) net",
        "the best deals: megadeals. com",
    ],
)
def test_a_link_spelled_to_slip_past_filters_is_named(body: str) -> None:
    assert "link spelled to slip past filters" in reasons(body, new_author=True)
    # Weighed as a link: a reader the site knows may spell out a source.
    assert "link spelled to slip past filters" not in reasons(body)


def test_prose_with_dots_and_dot_com_is_no_spelled_link() -> None:
    for body in (
        "The dot com bubble burst in 2000 and nobody learned a thing.",
        "They said so. net migration rose anyway.",
        "It was the end of an era. Com on, nobody believes the minister.",
        "Delete the spaces in the form's reference number (remove the spaces) and it works.",
        "The Department of Transportation (DOT) closed the ramp for a month.",
        "My late grandmother Dorothy (Dot) worked in that mill.",
    ):
        assert "link spelled to slip past filters" not in reasons(body, new_author=True), body


# Spam from the seed, then readers citing others' pages or replying to a namesake.
OWN_NAME = [
    ("TLouX music", "Add me here...https://www.facebook.com/TLouXmusic", True),
    ("Artady", "https://soundcloud.com/artady please check my stuff", True),
    ("Nick M", "https://www.reverbnation.com/slicknick313/songs", True),
    ("Emerson Zanol", "need money?Enjoy https://www.tsu.co/emerson_zanol", True),
    ("Mauro Tricolor", "http://minhateca.com.br/mauro-sp2013/Filmes+Series", True),
    ("Fredrik Jonsson", "Thank you for your instagram likes @axeljonssons", True),
    ("News Junkie", "Source: https://www.bbc.co.uk/news/articles/c0000", False),
    ("News Junkie", "https://www.theguardian.com/uk-news/2024/jan/01/story", False),
    ("Helen King", "https://www.example.co.uk/parking-charges-rise-2024", False),
    ("Chris Lord", "https://www.example.com/landlord-no-fault-evictions-2024", False),
    ("Bill Thompson", "https://bills.parliament.uk/bills/3456", False),
    ("Sarah Johnson", "https://www.bbc.com/news/boris-johnson-resigns-2022", False),
    ("Politics Watcher", "Source: https://www.bbc.com/news/uk-politics-68000000", False),
    ("Green Belt", "https://en.wikipedia.org/wiki/Green_belt", False),
    ("Mark", "https://www.ft.com/markets", False),
    ("Mark", "@MarketWatch has the figures", False),
    ("Nature Lover", "The study: https://www.nature.com/articles/d41586-024-0001", False),
    ("Mark Evans", "@MarkTaylor you have the dates wrong, the vote was in May.", False),
    ("Anna Smith", "@Anna agreed, and the library hours were cut too.", False),
    ("Al", "Full text: https://www.legislation.gov.uk/al/2024/1", False),
]


@pytest.mark.parametrize(("author", "body", "named"), OWN_NAME)
def test_a_link_or_handle_with_the_authors_own_name_is_named(
    author: str, body: str, named: bool
) -> None:
    found = [s.reason for s in spam_signals(SpamContext(body, author, False, 0, 0, 0))]
    assert ("link or handle with the author's own name" in found) is named


def test_news_talk_about_messengers_and_money_is_not_a_contact_phrase() -> None:
    assert reasons("Telegram: the minister posted the decree on his channel at noon.") == []
    assert reasons("The WhatsApp outage lasted two hours.") == []


def test_invisible_characters_are_named_but_emoji_and_scripts_that_need_joiners_are_not() -> None:
    assert "invisible characters" in reasons("Cheap vi\u200bagra here")
    assert "invisible characters" in reasons("Totally normal \u202etxt.exe")
    family = "My family \U0001f468\u200d\U0001f469\u200d\U0001f467 read this"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ is part of the word
    england = "Go \U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f!"
    for body in (family, persian, england, "\ufeffCopied from elsewhere\ufeff"):
        assert reasons(body) == []


def test_a_word_spelled_with_letters_of_two_scripts_is_a_homoglyph_trick() -> None:
    assert "homoglyphs mixing scripts" in reasons("Best \u0441asino bonus")  # Cyrillic es
    assert "homoglyphs mixing scripts" in reasons("\u0440aypal login")  # Cyrillic er
    assert "homoglyphs mixing scripts" in reasons("B\u03bfnus")  # Greek omicron
    # Mostly Cyrillic, yet it reads as Latin: every Cyrillic letter in it looks Latin.
    assert "homoglyphs mixing scripts" in reasons("Fr\u0435\u0435 \u0441\u0430sh")


def test_greek_symbols_in_science_are_not_homoglyphs() -> None:
    assert reasons("The \u0394pH of the river fell, and noise reached 90 \u03bcPa.") == []
    assert reasons("My doctor stopped the \u03b2-blockers last year.") == []


def test_mixed_languages_in_one_sentence_are_not_homoglyphs() -> None:
    assert reasons("Я читал это в New York Times, и это правда.") == []
    # Latin abbreviation with a Russian ending: no letter here is pretending.
    assert reasons("SMSка пришла вчера") == []  # noqa: RUF001


def test_long_runs_and_shouting_are_named() -> None:
    assert "one character repeated 12 times" in reasons("Wow!!!!!!!!!!!!")
    assert "mostly capital letters" in reasons("THIS IS AN OUTRAGE AND THE MAYOR MUST RESIGN NOW")
    assert reasons("Sooo good, wow!!!") == []


def test_signals_only_raise_the_classifier_probability() -> None:
    assert combine(0.3, []) == pytest.approx(0.3)
    assert combine(0.05, [Signal("URL shortener bit.ly", 0.6)]) == pytest.approx(0.62)
    assert combine(0.5, [Signal("a", 0.5), Signal("b", 0.5)]) == pytest.approx(0.875)
    assert combine(0.9, [Signal("weak", 0.1)]) > 0.9


def test_a_strong_signal_lifts_a_comment_the_classifier_likes(
    seed_classifier: SpamClassifier,
) -> None:
    body = "Our store has the best prices in town on every phone model"
    [alone, repeated] = score_spam(seed_classifier, [context(body), context(body, duplicates=12)])
    assert repeated.score >= 0.9 > alone.score
    assert repeated.reasons[0] == "same text posted 13 times"


def test_the_classifier_names_itself_only_when_it_leans_to_spam(
    seed_classifier: SpamClassifier,
) -> None:
    spam, honest = score_spam(seed_classifier, [context(SPAM), context(HONEST["english"])])
    assert any(
        r.startswith("spam classifier 0.") or r == "spam classifier 1.00" for r in spam.reasons
    )
    assert not any(r.startswith("spam classifier") for r in honest.reasons)


def test_an_empty_batch_scores_nothing(seed_classifier: SpamClassifier) -> None:
    assert score_spam(seed_classifier, []) == []
    assert seed_classifier.predict([]) == []


def test_bytes_round_trip_keeps_predictions_exactly(seed_classifier: SpamClassifier) -> None:
    texts = [SPAM, *HONEST.values()]
    data = seed_classifier.to_bytes()
    assert len(data) < 3_000_000
    assert SpamClassifier.from_bytes(data).predict(texts) == seed_classifier.predict(texts)


def with_header(data: bytes, **changes: object) -> bytes:
    magic, header, payload = data.split(b"\n", 2)
    return b"\n".join([magic, json.dumps(json.loads(header) | changes).encode(), payload])


def test_a_blob_of_another_format_version_is_refused(seed_classifier: SpamClassifier) -> None:
    data = with_header(seed_classifier.to_bytes(), format=FORMAT_VERSION + 1)
    with pytest.raises(SpamModelError, match=f"format {FORMAT_VERSION + 1} is not"):
        SpamClassifier.from_bytes(data)


def test_a_blob_from_another_scikit_learn_is_refused(seed_classifier: SpamClassifier) -> None:
    data = with_header(seed_classifier.to_bytes(), sklearn="0.24.2")
    with pytest.raises(SpamModelError, match=re.escape("scikit-learn '0.24.2'")):
        SpamClassifier.from_bytes(data)


@pytest.mark.parametrize("data", [b"", b"not a model", b"moderation-spam-model\n{nope\n"])
def test_bytes_that_are_not_a_model_are_refused(data: bytes) -> None:
    with pytest.raises(SpamModelError):
        SpamClassifier.from_bytes(data)


def test_a_corrupt_payload_is_refused(seed_classifier: SpamClassifier) -> None:
    data = seed_classifier.to_bytes()
    with pytest.raises(SpamModelError, match="corrupt"):
        SpamClassifier.from_bytes(data[:-100] + b"\x00" * 100)


def test_training_refuses_mismatched_or_one_sided_labels() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        SpamClassifier.train(["a", "b"], [1])
    with pytest.raises(ValueError, match="both present"):
        SpamClassifier.train(["a", "b"], [0, 0])


def test_retraining_on_moderators_decisions_changes_what_it_flags(
    seed_classifier: SpamClassifier,
) -> None:
    # A campaign the seed never saw: praise signed with a business's name.
    probe = "Interesting read. Regards from the Golden Maple Realty team"
    decided = [
        f"{opening} Regards from the Golden Maple Realty team, {town}"
        for opening, town in zip(
            ["Great article!", "Well said.", "So true.", "Thanks for this."] * 5,
            ["Leeds", "York", "Hull", "Bath", "Ely"] * 4,
            strict=True,
        )
    ]
    texts, labels = load_seed_corpus()
    retrained = SpamClassifier.train(texts + decided, labels + [1] * len(decided))
    [before], [after] = seed_classifier.predict([probe]), retrained.predict([probe])
    assert before < SPAM_HOLD_THRESHOLD < SPAM_REJECT_THRESHOLD <= after


def test_words_the_vocabulary_lacks_keep_their_share_of_a_comments_length() -> None:
    words = WordTfidf(ngram_range=(1, 2), sublinear_tf=True, norm=None)
    words.fit(["my channel", "nice song"])
    [my] = words.transform(["my"]).toarray()[:, words.vocabulary_["my"]]
    assert my == pytest.approx(1.0)
    # "telephone" and "my telephone" are unseen: each weighs as the rarest n-gram seen.
    rarest, idf = max(words.idf_), words.idf_[words.vocabulary_["my"]]
    row = words.transform(["my telephone"]).toarray()[0]
    assert row[words.vocabulary_["my"]] == pytest.approx(idf / math.sqrt(idf**2 + 2 * rarest**2))
    assert row.sum() == row[words.vocabulary_["my"]]
    # Fitted texts hold no unseen n-gram: their rows have unit length, as plain L2 gives.
    fitted = words.fit_transform(["my channel", "nice song"]).toarray()
    assert (fitted**2).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_a_short_comment_is_not_spam_for_the_one_word_the_seed_knows() -> None:
    # Trained without KatyPerry's video, the classifier knew "my" of "My telephone!" (an
    # honest comment there) and not "telephone": with plain L2 normalisation "my" was the
    # whole comment, and it scored 0.97.
    seen = [
        c for name in ("Youtube01-Psy.csv", "Youtube03-LMFAO.csv") for c in load_seed_comments(name)
    ]
    trained = SpamClassifier.train([c.text for c in seen], [c.label for c in seen])
    assert trained.predict(["My telephone!"])[0] < SPAM_HOLD_THRESHOLD


# Readers of a news site write at length; the seed's YouTube readers did not.
CONSIDERED = [
    "I live two streets from the proposed site and I have been to every consultation meeting "
    "since March. The council keeps saying the traffic study supports the plan, but the study "
    "was done in August when the schools were closed, so of course the roads looked quiet. If "
    "they want residents to trust the process they should repeat the counts in term time and "
    "publish the raw numbers, not just the summary. I am not against new housing, we need it, "
    "but doing it on the back of a flawed study will only make the next scheme harder.",
    "As a nurse who worked through the pandemic I find the tone of this article frustrating. "
    "Staffing was the problem long before covid and it is still the problem now. Every winter "
    "we are told that extra beds are being opened, but beds without nurses are just furniture. "
    "The pay rise mentioned here does not even keep up with inflation over the last decade. "
    "Many of my colleagues have left for agency work or moved abroad, and the ones who stay "
    "are exhausted. Fix retention first and the waiting lists will start to come down.",
    "The article misses the point about the tariff. Farmers in our area already sell most of "
    "their produce to two supermarkets, who set the price. Any extra cost at the border will "
    "be passed back down the chain to the growers, not on to shoppers. My family has grown "
    "apples here for three generations and this is the first year we have seriously talked "
    "about selling the land. Whoever negotiates this needs to speak to the people who pick.",
]


def test_a_long_considered_comment_is_not_held_as_spam(seed_classifier: SpamClassifier) -> None:
    # The seed's spam ran longer than its honest comments; with length as a feature these
    # scored 0.71 to 0.78, held on every site that had not trained its own model.
    verdicts = score_spam(seed_classifier, [context(text, new_author=True) for text in CONSIDERED])
    assert all(len(text) > 400 for text in CONSIDERED)
    assert max(v.score for v in verdicts) < 0.4


def test_a_corpus_without_links_still_trains() -> None:
    trained = SpamClassifier.train(
        ["buy cheap pills now", "a fair point about the bus"] * 3, [1, 0] * 3
    )
    [spam, honest] = trained.predict(["cheap pills", "the bus"])
    assert spam > honest


# What the features must treat exactly as the fitted pipeline does: links of every kind,
# text around them, fullwidth and invisible characters, other scripts, runs of whitespace,
# words shorter and longer than the n-grams, nothing at all.
AWKWARD = [
    "Source: https://www.bbc.co.uk/news/uk-123 and www.example.org/a?b=c#d",
    "HTTPS://EXAMPLE.COM/PATH in capitals",
    "see http://localhost:8000",
    "look: www.!",
    "bit.ly/free x.co/abc murdev.com/free agreed.It was",
    "Ｆｒｅｅ ｍｏｎｅｙ　ａｔ ｂｉｔ．ｌｙ／ｘ",  # noqa: RUF001
    "vi\u200bagra and \u2066isolated\u2069 and e\u0301clair",
    "Привет, мир! Это 日本語のテキスト and ελληνικά 🙂🙂",
    "a",
    "I",
    "",
    "   \t\n  ",
    "ab\tcd\n\nef  gh",
    "Pneumonoultramicroscopicsilicovolcanoconiosis!!!!!!!!!!!! WOW",
    "x" * 3000,
]


def assert_features_match_the_pipeline(seed_classifier: SpamClassifier, texts: list[str]) -> None:
    stock = seed_classifier._pipeline.named_steps["features"].transform(texts)
    ours = seed_classifier._features.transform(texts)
    assert ours.shape == stock.shape
    assert ours.dtype == stock.dtype
    assert (ours != stock).nnz == 0
    expected = seed_classifier._pipeline.predict_proba(texts)[:, 1]
    assert seed_classifier.predict(texts) == [float(p) for p in expected]


def test_prediction_computes_the_fitted_pipelines_features_exactly(
    seed_classifier: SpamClassifier,
) -> None:
    assert seed_classifier._features.char_counts.packed
    texts, _ = load_seed_corpus()
    assert_features_match_the_pipeline(seed_classifier, [*texts, *AWKWARD, *HONEST.values(), SPAM])


def test_a_site_writing_in_more_characters_than_a_key_packs_is_counted_exactly() -> None:
    # 400 texts of 30 three-character words drawn from 5,000 CJK characters: an alphabet
    # of more than 4,095, which 64-bit keys of five characters cannot hold.
    rng = random.Random(7)  # noqa: S311
    characters = [chr(0x4E00 + i) for i in range(5000)]
    texts = [" ".join("".join(rng.choices(characters, k=3)) for _ in range(30)) for _ in range(400)]
    trained = SpamClassifier.train(texts, [i % 2 for i in range(len(texts))])
    assert not trained._features.char_counts.packed
    assert_features_match_the_pipeline(trained, [*texts[:50], *AWKWARD])


def test_the_link_prefilter_passes_every_text_with_a_link() -> None:
    texts, _ = load_seed_corpus()
    found = 0
    for text in [*texts, *AWKWARD, SPAM]:
        assert urls(text) == URL.findall(text), text
        found += bool(urls(text))
    assert found > 100  # the seed's spammers link a lot


# One text for each phrase pattern, in their order, that no other pattern matches.
ONE_PHRASE_EACH = [
    "just whatsapp me",
    "message me on instagram",
    "call now",
    "пишите в телеграм",
    "earn money",
    "click here",
    "working from home",
    "free followers",
    "bitcoin investment",
    "check out my channel",
    "please like this comment",
    "subscribe to my",
]


def test_the_phrase_prefilter_passes_every_text_a_phrase_is_found_in() -> None:
    texts, _ = load_seed_corpus()
    phrases = [pattern for _, _, pattern in _PHRASE_PATTERNS]
    assert len(ONE_PHRASE_EACH) == len(phrases)
    for index, text in enumerate(ONE_PHRASE_EACH):
        assert [i for i, pattern in enumerate(phrases) if pattern.search(text)] == [index]
    # Capitals, and letters that IGNORECASE matches to the patterns' ASCII ones.
    odd_cases = ["CL\u0130CK HERE", "cl\u0131ck here", "\u212aik me"]
    cased = [text.upper() for text in ONE_PHRASE_EACH] + odd_cases
    found = 0
    for text in [*ONE_PHRASE_EACH, *cased, *texts, *AWKWARD, SPAM, *HONEST.values()]:
        expected = any(pattern.search(text) for pattern in phrases)
        assert may_hold_phrase(text) == expected, text
        found += expected
    assert found > 50  # the seed's spammers promote channels and say "check out"


@pytest.mark.parametrize(
    "text", ["", "abc", "ABC def", "Ǆemal ǅ ß ẞ ΣΑΣ", "123 !!", "@[`{ AZaz", *AWKWARD]
)
def test_cased_letters_counts_capitals_and_cased_characters(text: str) -> None:
    cased = [c for c in text if c.isupper() or c.islower()]
    assert cased_letters(text) == (sum(c.isupper() for c in cased), len(cased))
