"""Loaders: real files in, page-numbered raw text out, or a per-file LoadError saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from docgen import write_image_pdf, write_pdf
from fpdf.enums import EncryptionMethod

from ingest.chunker import ChunkParams, chunk
from ingest.errors import LoadError
from ingest.loaders import load
from ingest.structure import build

# ---------------------------------------------------------------------------------------
# PDF


def test_pdf_pages_are_numbered_from_one_in_reading_order(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "three.pdf",
        [["First sheet: asylum procedures."], ["Second sheet: reception conditions."], ["Third sheet: returns."]],
    )
    raw = load(pdf, "three.pdf")
    assert raw.kind == "pdf"
    assert [page.number for page in raw.pages] == [1, 2, 3]
    assert "asylum procedures" in raw.pages[0].text
    assert "reception conditions" in raw.pages[1].text
    assert "returns" in raw.pages[2].text


def test_pdf_title_comes_from_its_metadata(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "c.pdf", [["Some body text of the convention."]], title="Convention on Statelessness")
    assert load(pdf, "c.pdf").title == "Convention on Statelessness"


@pytest.mark.parametrize("junk", ["Microsoft Word - draft3.docx", "untitled", "Doc"])
def test_pdf_junk_metadata_title_is_not_used(tmp_path: Path, junk: str) -> None:
    pdf = write_pdf(tmp_path / "c.pdf", [["Some body text of the convention."]], title=junk)
    raw = load(pdf, "c.pdf")
    assert raw.title is None
    assert build(raw).title != junk


def test_truncated_pdf_is_reported_as_broken(tmp_path: Path) -> None:
    good = write_pdf(tmp_path / "good.pdf", [["Text that will be cut off halfway through the file."]] * 2)
    data = good.read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError, match="broken or truncated PDF"):
        load(broken, "broken.pdf")


def test_file_that_is_not_a_pdf_at_all_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_text("Not a PDF, just some mislabelled notes.")
    with pytest.raises(LoadError, match="broken or truncated PDF"):
        load(fake, "fake.pdf")


@pytest.mark.parametrize("name", ["empty.pdf", "empty.txt", "empty.md", "empty.html"])
def test_zero_byte_file_is_reported_as_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(LoadError, match="empty file"):
        load(path, name)


@pytest.mark.parametrize("method", [EncryptionMethod.RC4, EncryptionMethod.AES_128, EncryptionMethod.AES_256])
def test_pdf_locked_with_a_user_password_is_reported(tmp_path: Path, method: EncryptionMethod) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_encryption(owner_password="registry", user_password="s3cret", encryption_method=method)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 10, "Confidential annex to the readmission agreement.")
    path = tmp_path / "locked.pdf"
    pdf.output(str(path))
    with pytest.raises(LoadError) as caught:
        load(path, "locked.pdf")
    message = str(caught.value).lower()
    assert "password" in message and "encrypted" in message


@pytest.mark.parametrize("method", [EncryptionMethod.RC4, EncryptionMethod.AES_128, EncryptionMethod.AES_256])
def test_pdf_encrypted_with_an_empty_user_password_reads_normally(tmp_path: Path, method: EncryptionMethod) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    # Only an owner password (printing/copy restrictions): any reader opens it without asking.
    pdf.set_encryption(owner_password="registry", user_password="", encryption_method=method)
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    pdf.cell(0, 10, "Public annex to the readmission agreement.")
    path = tmp_path / "restricted.pdf"
    pdf.output(str(path))
    raw = load(path, "restricted.pdf")
    assert "Public annex to the readmission agreement." in raw.pages[0].text


def test_image_only_pdf_is_reported_as_having_no_text(tmp_path: Path) -> None:
    path = write_image_pdf(tmp_path / "scan.pdf")
    with pytest.raises(LoadError, match="no extractable text"):
        load(path, "scan.pdf")


def test_unsupported_suffix_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "minutes.docx"
    path.write_bytes(b"PK\x03\x04 not really a docx")
    with pytest.raises(LoadError, match="unsupported file type"):
        load(path, "minutes.docx")


def test_suffix_matching_ignores_case(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "UPPER.PDF", [["Upper-case suffixes are common on scanned archives."]])
    assert load(pdf, "UPPER.PDF").kind == "pdf"


# ---------------------------------------------------------------------------------------
# Text encodings

ACCENTED = (
    "La Convention s’applique déjà à tous les réfugiés, même à ceux qui sont arrivés "
    "irrégulièrement. Le problème est très grave pour l’État où il se trouve.\n\n"
    "Über die Rechtsstellung der Flüchtlinge: Maßnahmen für Asylbewerber, naïve Öffentlichkeit.\n\n"
    "Artículo 33: ningún Estado podrá, por expulsión o devolución, poner a un refugiado en peligro; "
    "la señora Muñoz lo recordó.\n"
)


LATIN_1 = ACCENTED.replace("’", "'")  # Latin-1 has no curly quotes
WORDS = [
    "déjà",
    "à",
    "irrégulièrement",
    "problème",
    "très",
    "Über",
    "Flüchtlinge",
    "Maßnahmen",
    "naïve",
    "Öffentlichkeit",
    "Artículo",
    "señora",
    "Muñoz",
]


@pytest.mark.parametrize(
    ("encoding", "text", "words"),
    [
        ("utf-8", ACCENTED, WORDS + ["s’applique", "l’État"]),
        ("utf-8-sig", ACCENTED, WORDS + ["s’applique", "l’État"]),
        ("utf-16", ACCENTED, WORDS + ["s’applique", "l’État"]),
        ("cp1252", ACCENTED, WORDS + ["s’applique", "l’État"]),
        ("latin-1", LATIN_1, WORDS + ["s'applique", "l'État"]),
    ],
)
def test_text_in_common_encodings_reads_without_mojibake(
    tmp_path: Path, encoding: str, text: str, words: list[str], embedder
) -> None:
    path = tmp_path / "notice.txt"
    path.write_bytes(text.encode(encoding))
    raw = load(path, "notice.txt")
    assert raw.pages[0].text == text
    doc = build(raw)
    passages = chunk(doc, "notice", embedder.token_offsets, ChunkParams(160, 24))
    joined = " ".join(p.text for p in passages)
    for word in words:
        assert word in joined, f"{word!r} lost when reading {encoding}"
    assert "\ufeff" not in joined and "\ufffd" not in joined


@pytest.mark.parametrize(
    "text",
    [
        "Déjà vu: the officer had seen the file before.",
        "Señor Müller lodged the appeal.",
        "Öffentliche Ordnung und Sicherheit",
        "naïve façade, señor",
    ],
)
@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_short_western_legacy_text_is_not_misread(tmp_path: Path, text: str, encoding: str) -> None:
    """Short files give an encoding detector little to go on; they must still come out right."""
    path = tmp_path / "short.txt"
    path.write_bytes(text.encode(encoding))
    assert load(path, "short.txt").pages[0].text == text


def test_short_cp1252_text_keeps_curly_quotes_and_dashes(tmp_path: Path) -> None:
    text = "The State’s “safe third country” list – revised."
    path = tmp_path / "short.txt"
    path.write_bytes(text.encode("cp1252"))
    assert load(path, "short.txt").pages[0].text == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (
            "Konwencja dotycząca statusu uchodźców. Artykuł 33: zakaz wydalania lub zawracania uchodźcy "
            "do granic terytoriów, gdzie jego życiu lub wolności zagrażałoby niebezpieczeństwo.",
            "cp1250",
        ),
        (
            "Úmluva o právním postavení uprchlíků. Článek 33: zákaz vyhoštění nebo navrácení uprchlíka "
            "na hranice území, kde by jeho život nebo svoboda byly ohroženy.",
            "cp1250",
        ),
        (
            "Конвенция о статусе беженцев. Статья 33: запрещение высылки беженцев или их принудительного возвращения.",
            "cp1251",
        ),
        ("難民の地位に関する条約。第三十三条：追放及び送還の禁止。", "cp932"),
        ("난민의 지위에 관한 협약. 제33조: 추방 및 송환의 금지.", "cp949"),
    ],
)
def test_other_legacy_code_pages_are_still_recognised(tmp_path: Path, text: str, encoding: str) -> None:
    path = tmp_path / "convention.txt"
    path.write_bytes(text.encode(encoding))
    assert load(path, "convention.txt").pages[0].text == text


def test_utf16_markdown_keeps_its_heading_title(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_bytes("# Guide für Flüchtlinge\n\nDer Antrag wird geprüft.\n".encode("utf-16"))
    raw = load(path, "guide.md")
    assert raw.kind == "markdown"
    assert raw.title == "Guide für Flüchtlinge"


def test_whitespace_only_text_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "blank.txt"
    path.write_text("\n\n   \n\t\n")
    with pytest.raises(LoadError, match="no text"):
        load(path, "blank.txt")


# ---------------------------------------------------------------------------------------
# HTML

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Guidance on Family Reunification</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li></ul></nav>
<main><article>
<h1>Guidance on Family Reunification</h1>
<p>This guidance explains how refugees may apply to be reunited with members of their family who
remain abroad. Applications are free of charge and may be lodged at any embassy.</p>
<h2>Eligible family members</h2>
<p>Spouses, registered partners and minor children are eligible. Other dependent relatives may be
admitted where refusal would breach the right to respect for family life.</p>
<h2>Time limits</h2>
<p>An application lodged within three months of the grant of protection is exempt from the income
requirement. Later applications must show stable and sufficient resources.</p>
</article></main>
<footer><p>© 2024 Ministry of Migration. All rights reserved. Cookie settings.</p></footer>
</body></html>
"""


def test_html_main_text_and_headings_without_boilerplate(tmp_path: Path, embedder) -> None:
    path = tmp_path / "reunification.html"
    path.write_text(PAGE, encoding="utf-8")
    raw = load(path, "reunification.html")
    assert raw.title == "Guidance on Family Reunification"
    doc = build(raw)
    assert "Cookie settings" not in doc.text
    assert "About us" not in doc.text
    passages = chunk(doc, "reunification", embedder.token_offsets, ChunkParams(160, 24))
    by_text = {p.section: p.text for p in passages}
    assert "minor children are eligible" in by_text["Eligible family members"]
    assert "income requirement" in by_text["Time limits"]
    assert all(p.page_start is None and p.page_end is None for p in passages)


def test_html_without_main_text_is_reported(tmp_path: Path) -> None:
    """A saved single-page-app shell: the text is rendered by a script that never ran."""
    path = tmp_path / "app.html"
    path.write_text(
        "<html><head><title>Portal</title><script src='app.js'></script></head>"
        "<body><div id='root'></div><script>render()</script></body></html>"
    )
    with pytest.raises(LoadError, match="no main text"):
        load(path, "blank.html")


# Generated legacy-encoded files: Western European in cp1252 / Latin-1, Central European in
# cp1250 / ISO-8859-2, long and short (a short file gives little evidence).
LEGACY = {
    "french": (
        "L’éducation est un droit fondamental. Les États parties reconnaissent le droit de l’enfant à "
        "l’éducation, et en particulier, en vue d’assurer l’exercice de ce droit progressivement et sur "
        "la base de l’égalité des chances, ils rendent l’enseignement primaire obligatoire et gratuit. "
        "Ça se fait où ? À côté du théâtre, même à l’hôpital ; la qualité reste très élevée.",
        ["cp1252", "latin-1"],
    ),
    "german": (
        "Die Vertragsstaaten erkennen das Recht des Kindes auf Bildung an; um die Verwirklichung dieses "
        "Rechts auf der Grundlage der Chancengleichheit fortschreitend zu erreichen, werden sie den Besuch "
        "der Grundschule für alle zur Pflicht machen. Größere Maßnahmen für Flüchtlinge, über die "
        "Öffentlichkeit, schließlich Straße und Gemüse.",
        ["cp1252", "latin-1"],
    ),
    "spanish": (
        "Los Estados Partes reconocen el derecho del niño a la educación y, a fin de que se pueda ejercer "
        "progresivamente y en condiciones de igualdad de oportunidades ese derecho, deberán implantar la "
        "enseñanza primaria obligatoria y gratuita para todos. ¿Cuándo? ¡Mañana! Artículo 28: la "
        "protección también según el señor Muñoz.",
        ["cp1252", "latin-1"],
    ),
    "portuguese": (
        "Os Estados Partes reconhecem o direito da criança à educação e, a fim de que ela possa exercer "
        "progressivamente e em igualdade de condições esse direito, deverão tornar o ensino primário "
        "obrigatório e disponível gratuitamente para todos. A informação e orientação educacionais são "
        "acessíveis; as ações, lições e opções não põem em causa a proteção.",
        ["cp1252", "latin-1"],
    ),
    "polish": (
        "Państwa-Strony uznają prawo dziecka do nauki i w celu stopniowego urzeczywistniania tego prawa na "
        "zasadzie równych szans, w szczególności uczynią nauczanie podstawowe obowiązkowym i bezpłatnym dla "
        "wszystkich; będą popierały rozwój różnych form szkolnictwa średniego. Zażółć gęślą jaźń, źródło, "
        "ściana, łódź.",
        ["cp1250", "iso-8859-2"],
    ),
    "czech": (
        "Státy, které jsou smluvní stranou úmluvy, uznávají právo dítěte na vzdělání a s cílem postupně "
        "dosáhnout plné realizace tohoto práva na základě rovných příležitostí zejména zavedou bezplatné a "
        "povinné základní vzdělání pro všechny. Příliš žluťoučký kůň úpěl ďábelské ódy, ťukání.",
        ["cp1250", "iso-8859-2"],
    ),
}


@pytest.mark.parametrize("length", [None, 160, 60])
@pytest.mark.parametrize(("language", "encoding"), [(lang, enc) for lang, (_, encs) in LEGACY.items() for enc in encs])
def test_legacy_encoded_files_in_six_languages(
    tmp_path: Path, language: str, encoding: str, length: int | None
) -> None:
    text = LEGACY[language][0][:length]
    if encoding == "latin-1":
        text = text.replace("’", "'")  # Latin-1 has no curly quotes
    path = tmp_path / f"{language}.txt"
    path.write_bytes(text.encode(encoding))
    assert load(path, path.name).pages[0].text == text


def test_one_bad_byte_keeps_a_utf8_file_utf8(tmp_path: Path) -> None:
    text = "Café, crème brûlée et thé à l’hôtel. Straße, Muñoz, łódź."
    path = tmp_path / "menu.txt"
    data = text.encode("utf-8")
    at = data.index(b" et ")
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    decoded = load(path, "menu.txt").pages[0].text
    cut = text.index(" et ")
    assert decoded == text[:cut] + "\ufffd" + text[cut:]
