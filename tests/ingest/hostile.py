"""A folder of hostile files, generated at test time: what a careless or malicious corpus
holds. :func:`write_hostile_folder` writes them and returns what a careful reader should make
of each (:class:`Expect`): its text ingested, or the file reported (failed or skipped).

PDFs are assembled by hand (:func:`raw_pdf`) so that they can be wrong in exactly one way: a
content stream of many thousands of tiny operators (pypdf spends seconds on it), a stream
that inflates to half a GiB, a page tree that cycles back on itself, a truncated file.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import pypdf
from docgen import write_pdf


@dataclass(frozen=True)
class Expect:
    """``text``: a phrase the ingested passages must hold; else ``outcome`` is ``failed`` or
    ``skipped`` and ``why`` a phrase of the reason."""

    outcome: str
    text: str = ""
    why: str = ""


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (object ``n`` is ``objects[n - 1]``; 1 is the catalog) with a
    correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, compress: bool = True) -> bytes:
    body = zlib.compress(data, 9) if compress else data
    flate = b" /Filter /FlateDecode" if compress else b""
    return b"<< /Length %d%s >>\nstream\n" % (len(body), flate) + body + b"\nendstream"


_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _one_page(content: bytes) -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        content,
        _FONT,
    ]


def slow_pdf(operators: int | None = None) -> bytes:
    """One page whose content stream is ``operators`` tiny text-showing operations: small on
    disk (it compresses well), seconds to minutes for pypdf's text extraction.

    The default stays under pypdf's own per-stream parsing budget (pypdf 7: 2M tokens, five per
    operation here) so that what stops the file is the worker's time limit, not a race between
    that limit and pypdf reaching its budget (which it does in about the limit's time)."""
    if operators is None:
        configuration = getattr(pypdf, "get_configuration", None)  # pypdf >= 7
        budget = configuration().stream_parsing_work_maximum_count if configuration else 2_000_000
        operators = int(budget * 0.85) // 5
    ops = b"BT /F1 1 Tf " + b"1 0 Td (a) Tj " * operators + b"ET"
    return raw_pdf(_one_page(_stream(ops)))


def bomb_pdf(inflated: int = 512 << 20) -> bytes:
    """One page whose FlateDecode content stream inflates to ``inflated`` bytes of spaces."""
    packer = zlib.compressobj(9)
    block = b" " * (1 << 20)
    body = b"".join(packer.compress(block) for _ in range(inflated >> 20)) + packer.flush()
    content = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
    return raw_pdf(_one_page(content))


def cyclic_pdf() -> bytes:
    """A page tree whose node lists itself among its kids, its parent its child."""
    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R 3 0 R] /Count 1 >>",
        ]
    )


def write_hostile_folder(root: Path, outside: Path) -> dict[str, Expect]:
    """Write the hostile files under ``root`` (and a folder ``outside`` it that links point
    to); what each should become, by source."""
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text("Outside the corpus: never indexed.\n")
    expect: dict[str, Expect] = {}

    good = write_pdf(
        outside / "good.pdf",
        [[f"Annex {n} lists the reception centres of region {n} and their capacity."] for n in ("I", "II", "III")],
    )
    data = good.read_bytes()
    (root / "truncated.pdf").write_bytes(data[: len(data) // 2])
    expect["truncated.pdf"] = Expect("failed", why="PDF")
    (root / "slow.pdf").write_bytes(slow_pdf())
    expect["slow.pdf"] = Expect("failed", why="took too long")
    (root / "bomb.pdf").write_bytes(bomb_pdf())
    expect["bomb.pdf"] = Expect("failed")
    (root / "cyclic.pdf").write_bytes(cyclic_pdf())
    expect["cyclic.pdf"] = Expect("failed")

    (root / "annex-named-md.md").write_bytes(data)  # a PDF under a Markdown name
    expect["annex-named-md.md"] = Expect("added", text="reception centres")
    (root / "page-named-pdf.pdf").write_text(
        "<!DOCTYPE html><html><head><title>Detention</title></head><body><main><article><h1>Detention</h1>"
        "<p>Detention of asylum-seekers should be a measure of last resort, with liberty as the default "
        "position, and alternatives to detention must be considered first.</p></article></main></body></html>",
        encoding="utf-8",
    )
    expect["page-named-pdf.pdf"] = Expect("added", text="measure of last resort")

    french = "L'éducation est un droit. Les États parties reconnaissent le droit de l'enfant à l'éducation.\n"
    (root / "latin1-french.txt").write_bytes(french.encode("latin-1"))
    expect["latin1-french.txt"] = Expect("added", text="L'éducation est un droit")
    polish = "Państwa-Strony uznają prawo dziecka do nauki; zażółć gęślą jaźń, źródło i łódź.\n"
    (root / "cp1250-polish.txt").write_bytes(polish.encode("cp1250"))
    expect["cp1250-polish.txt"] = Expect("added", text="zażółć gęślą jaźń")
    cafe = "Le Café de la Paix sert du thé à l'hôtel; crème brûlée pour tous.\n".encode()
    at = cafe.index(b" sert")
    (root / "utf8-one-bad-byte.txt").write_bytes(cafe[:at] + b"\xff" + cafe[at:])
    expect["utf8-one-bad-byte.txt"] = Expect("added", text="Le Café de la Paix\ufffd sert du thé")
    (root / "nul-bytes.txt").write_bytes(b"The Council\x00 meets three\x00 times a year in Geneva.\n")
    expect["nul-bytes.txt"] = Expect("added", text="The Council meets three times a year")
    (root / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    expect["picture.txt"] = Expect("failed", why="PNG")

    os.symlink("/etc/passwd", root / "passwd.txt")
    expect["passwd.txt"] = Expect("skipped", why="outside")
    os.symlink(outside, root / "elsewhere")
    expect["elsewhere"] = Expect("skipped", why="outside")
    os.mkfifo(root / "pipe.md")
    expect["pipe.md"] = Expect("skipped", why="FIFO")
    return expect
