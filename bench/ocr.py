"""OCR cost: pages a second read by Tesseract, and upload-to-answer of a scanned PDF.

1. pages/s: a generated scanned PDF (every page only an image of typed text, 200 dpi) read by
   the PDF loader — pypdf finds nothing, pdfium renders each page at `CLAUSEWISE_OCR_DPI` and
   Tesseract reads it — timed per page, in this process.
2. upload-to-answer: a `clausewise serve` over a copy of the seed corpus; the scanned PDF
   (`--pages`, 50 by default) is uploaded and `/ask` is asked for the one fact on page
   `FACT_PAGE` every second until an answer cites it on that page, read by OCR.

    python bench/ocr.py --pages 50 --ocr-pages 5     # the figures in docs/benchmarks.md
    python bench/ocr.py --pages 3 --ocr-pages 2 --no-write   # a quick check
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import CLAUSEWISE, ROOT, dump_json, md_table, server, write_block
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from ingest.loaders.ocr import OcrOptions
from ingest.loaders.pdf import load_pdf

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FACT = "The keeper of the Orrinford weir shall open the sluice gates at the first spring tide."
FACT_QUESTION = "When shall the keeper of the Orrinford weir open the sluice gates?"
SCAN_DPI = 200


def _page_lines(page: int) -> list[str]:
    subjects = ["The ministry", "Each district", "The harbour board", "The registrar", "Every municipality"]
    objects = ["the tonnage schedules", "the pilotage fees", "the flood reserves", "the bridge tolls"]
    lines = [f"Article {page}"]
    for i in range(34):
        k = page * 31 + i * 7
        lines.append(
            f"{subjects[k % 5]} shall publish {objects[(k // 5) % 4]} for reach {page}-{i} within {k % 90 + 10} days."
        )
    return lines


def scanned_pdf(path: Path, pages: int, fact_page: int) -> Path:
    """``pages`` pages, each only an image of typed lines (no text layer); the fact on ``fact_page``."""
    font = ImageFont.truetype(str(FONT), size=round(11 * SCAN_DPI / 72))
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    for number in range(1, pages + 1):
        lines = _page_lines(number)
        if number == fact_page:
            lines.insert(4, FACT)
        image = Image.new("L", (round(8.27 * SCAN_DPI), round(11.69 * SCAN_DPI)), 250)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines):
            draw.text((round(0.9 * SCAN_DPI), round((0.8 + i * 0.27) * SCAN_DPI)), line, fill=25, font=font)
        pdf.add_page()
        pdf.image(image, x=0, y=0, w=210, h=297)
    pdf.output(str(path))
    return path


def pages_per_second(pages: int, options: OcrOptions) -> dict:
    with tempfile.TemporaryDirectory(prefix="clausewise-ocr-") as tmp:
        path = scanned_pdf(Path(tmp) / "scan.pdf", pages, fact_page=1)
        started = time.perf_counter()
        raw = load_pdf(path, "scan.pdf", options)
        seconds = time.perf_counter() - started
    words = " ".join(" ".join(p.text for p in raw.pages).split())
    return {
        "pages": pages,
        "seconds": round(seconds, 2),
        "pages_per_s": round(pages / seconds, 3),
        "seconds_per_page": round(seconds / pages, 2),
        "ocr_pages": sum(p.ocr for p in raw.pages),
        "fact_read": FACT in words,
    }


def upload_to_answer(pages: int, fact_page: int, budget: float) -> dict:
    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="clausewise-ocr-serve-") as tmp:
        corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
        shutil.copytree(ROOT / "corpus", corpus)
        subprocess.run(
            [CLAUSEWISE, "ingest", str(corpus), "--index", str(index), "-q"], check=True, capture_output=True
        )
        pdf = scanned_pdf(Path(tmp) / "scanned-ordinance.pdf", pages, fact_page).read_bytes()
        env = {
            "CLAUSEWISE_API_KEYS": key,
            "CLAUSEWISE_WRITE_KEYS": key,
            "CLAUSEWISE_RELOAD_INTERVAL_S": "1",
            "CLAUSEWISE_REBUILD_TIMEOUT_S": str(budget),
        }
        with (
            server(index, extra_env=env, args=["--corpus", str(corpus)]) as url,
            httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}) as http,
        ):
            started = time.perf_counter()
            response = http.post("/documents", files={"files": ("scanned-ordinance.pdf", pdf, "application/pdf")})
            if response.status_code != 202:
                raise RuntimeError(f"upload refused: {response.status_code} {response.text}")
            job_id = response.json()["job"]["id"]
            while time.perf_counter() - started < budget:
                answer = http.post("/ask", json={"question": FACT_QUESTION, "top_k": 3}).json()
                cited = [
                    p["citation"] for p in answer["passages"] if p["citation"]["source"] == "scanned-ordinance.pdf"
                ]
                if cited and cited[0]["page_start"] == fact_page:
                    job = http.get(f"/jobs/{job_id}").json()
                    return {
                        "pages": pages,
                        "bytes": len(pdf),
                        "upload_to_answer_s": round(time.perf_counter() - started, 1),
                        "cited_page": cited[0]["page_start"],
                        "ocr": cited[0]["ocr"],
                        "job": job,
                    }
                time.sleep(1.0)
    raise TimeoutError(f"no answer cited the scanned PDF within {budget:.0f} s")


def report(rate: dict, upload: dict | None, options: OcrOptions) -> str:
    rows = [
        [
            f"OCR, scanned A4 pages of typed text ({options.dpi} dpi render, Tesseract `{options.languages}`)",
            f"**{rate['pages_per_s']} pages/s**",
            f"{rate['seconds_per_page']} s a page over {rate['pages']} pages",
        ],
    ]
    if upload:
        rows.append(
            [
                f"scanned {upload['pages']}-page PDF: upload → first answer citing it (page {upload['cited_page']}, ocr {upload['ocr']})",
                f"**{upload['upload_to_answer_s']} s**",
                f"{upload['bytes'] // 1024} KiB",
            ]
        )
    return (
        "Command: `python bench/ocr.py --pages 50 --ocr-pages 5`. One process, Tesseract 5 through pytesseract.\n\n"
        + md_table(["measure", "value", "detail"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=50, help="Pages of the uploaded scanned PDF (0: skip).")
    parser.add_argument("--ocr-pages", type=int, default=5, help="Pages of the pages/s measurement.")
    parser.add_argument("--timeout", type=float, default=7200.0)
    parser.add_argument("--no-write", action="store_true", help="Do not update docs/benchmarks.md.")
    args = parser.parse_args()
    options = OcrOptions.of()
    rate = pages_per_second(args.ocr_pages, options)
    upload = upload_to_answer(args.pages, max(1, args.pages * 3 // 4), args.timeout) if args.pages else None
    result = {"pages_per_second": rate, "upload": upload}
    print(json.dumps(result, indent=2))
    table = report(rate, upload, options)
    print(table)
    dump_json("ocr", result)
    if not args.no_write:
        write_block("ocr", table)


if __name__ == "__main__":
    main()
