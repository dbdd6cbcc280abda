"""The English word list the cleaning asks where a document's own words cannot decide."""

from collections import Counter

from ingest.wordlist import is_word, mostly_english


def test_words_and_pieces_of_words() -> None:
    assert is_word("sentence") and is_word("significance") and is_word("ex")
    assert not is_word("gudas") and not is_word("ackets") and not is_word("entence")
    # The list has an entry for every letter; as a piece of text only "a" and "i" are words.
    assert is_word("a") and is_word("i") and not is_word("c") and not is_word("t")


def test_regular_endings_make_words_the_list_has_only_in_their_base_form() -> None:
    """web2 has "right" and "welcome" but not "rights" or "welcomed": a piece with a regular
    ending is a word all the same ("to wards" is two words), a truncated word is none."""
    for word in ("rights", "welcomed", "applied", "stopped", "levels", "wards", "dedicated"):
        assert is_word(word), word
    for piece in ("hild", "internat", "observanc", "servic", "ackets", "rver"):
        assert not is_word(piece), piece


def test_english_text_reads_as_english_and_french_or_spanish_does_not() -> None:
    def words(text: str) -> Counter[str]:
        return Counter(token.strip(".,;").lower() for token in text.split())

    english = "Everyone has the right to freedom of thought, conscience and religion; this right includes freedom to change his religion or belief."
    french = "Toute personne a droit à la liberté de pensée, de conscience et de religion ; ce droit implique la liberté de changer de religion ou de conviction."
    spanish = "Toda persona tiene derecho a la libertad de pensamiento, de conciencia y de religión; este derecho incluye la libertad de cambiar de religión."
    assert mostly_english(words(english))
    assert not mostly_english(words(french)) and not mostly_english(words(spanish))
    assert not mostly_english(Counter())
