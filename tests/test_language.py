"""Language detection on comment-sized texts, and routing to the model that covers them."""

# The samples are Cyrillic, Armenian and Turkic text on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass

import pytest

from moderation.scoring.language import LanguageDetector, detect, route, shared_detector
from moderation.statuses import UNDETERMINED


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return shared_detector()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Great article, thanks!", "en"),
        ("You are an idiot", "en"),
        ("Shame on the mayor", "en"),
        ("Это просто позор", "ru"),
        ("Полностью согласен с автором", "ru"),
        ("Սա ամոթ է", "hy"),
        ("Ապուշ", "hy"),
        ("Bu tam bir rezalet", "tr"),
        ("Teşekkürler", "tr"),
        ("Belediye başkanı istifa etmeli", "tr"),
        ("Bu gün şəhər şurası yeni büdcəni qəbul etdi", "az"),
        ("Sən axmaqsan", "az"),
        ("Təşəkkür edirəm", "az"),
        ("C'est une honte", "fr"),
        ("Le maire doit démissionner", "fr"),
        # Not covered by any model: must come out as itself, not as its covered neighbour.
        ("Повністю погоджуюсь", "uk"),
        ("Годі брехати", "uk"),
    ],
)
def test_short_comments_are_detected(detector: LanguageDetector, text: str, language: str) -> None:
    assert detector.detect(text) == language


@pytest.mark.parametrize("text", ["lol", "ok", "stupid", "so true", "nice"])
def test_one_or_two_words_the_identifier_cannot_place_count_as_the_default(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.detect(text) == "en"


def test_a_short_word_in_another_alphabet_keeps_its_own_language(
    detector: LanguageDetector,
) -> None:
    # English cannot spell it, so the default does not apply; the identifier's guess stands.
    assert detector.detect("дурак") not in {"en", None}


@pytest.mark.parametrize("text", ["👍", "123", "!!! ???", "https://example.com/news/1", "@editor"])
def test_text_without_letters_has_no_language(detector: LanguageDetector, text: str) -> None:
    assert detector.detect(text) is None


def test_links_and_handles_do_not_make_a_comment_english(detector: LanguageDetector) -> None:
    text = "@editor Это просто позор, читайте https://example.com/news/article-about-the-mayor"

    assert detector.detect(text) == "ru"


@pytest.mark.parametrize(
    "text",
    [
        "Bu, tam bir rüsvayçılıqdır",  # Azerbaijani, close to Turkish
        "Дякую за статтю",  # Ukrainian, close to Russian
    ],
)
def test_a_text_torn_between_close_languages_is_undetermined(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.detect(text) == UNDETERMINED


@pytest.mark.parametrize(
    ("text", "language"),
    [
        # As typed, the identifier reads these as English (0.12) and Hungarian (0.58).
        ("C'EST UNE HONTE ABSOLUE", "fr"),
        ("EL ALCALDE DEBE DIMITIR YA", "es"),
        ("BELEDIYE BAŞKANI ISTIFA ETMELI", "tr"),
        # Shouted in part: as typed, Galician (0.70) and torn between Russian and Ukrainian.
        ("El alcalde DEBE DIMITIR YA, ES UNA VERGÜENZA", "es"),
        ("Мер ПОВИНЕН ПІТИ У ВІДСТАВКУ, ЦЕ ГАНЬБА", "uk"),
    ],
)
def test_a_comment_in_capitals_is_detected_as_its_language(
    detector: LanguageDetector, text: str, language: str
) -> None:
    assert detector.detect(text) == language


def test_a_language_no_model_covers_is_recognised_as_itself(
    detector: LanguageDetector,
) -> None:
    assert detector.detect("ሰላም ነው ወዳጆቼ") == "am"  # Amharic
    assert detector.detect("Ich stimme dem Autor völlig zu") == "de"


def test_detect_keeps_the_order_of_a_batch() -> None:
    assert detect(["Это просто позор", "🙂", "Shame on the mayor"]) == ["ru", None, "en"]


@dataclass(frozen=True)
class Model:
    languages: frozenset[str]


ENGLISH = Model(frozenset({"en"}))
MULTILINGUAL = Model(frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"}))


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "original"),  # the English model before the multilingual one
        ("ru", "multilingual"),
        ("tr", "multilingual"),
        ("fr", "multilingual"),
        ("hy", None),
        ("az", None),
        ("uk", None),
        ("am", None),
        (UNDETERMINED, None),
        (None, "original"),  # no letters: scored as the default language
    ],
)
def test_route_with_english_and_multilingual_models(
    language: str | None, expected: str | None
) -> None:
    assert route(language, {"multilingual": MULTILINGUAL, "original": ENGLISH}) == expected


def test_route_without_a_multilingual_model_holds_other_languages() -> None:
    models = {"original": ENGLISH}

    assert route("en", models) == "original"
    assert route("ru", models) is None
    assert route("tr", models) is None


def test_route_prefers_the_first_of_equally_specialised_models() -> None:
    assert route("en", {"unbiased": ENGLISH, "original": ENGLISH}) == "unbiased"


def test_route_sends_text_without_letters_to_the_default_language() -> None:
    models = {"multilingual": MULTILINGUAL}

    assert route(None, models) == "multilingual"
    assert route(None, models, default="hy") is None
