"""Bad input: one clear message naming the file (and line/column), exit 1, store untouched."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest

from cloudtally.ingest.formats import Converter
from tests.conftest import FOCUS_10, SAMPLES, lake_snapshot

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def with_field(line: str, column: str, value: str) -> str:
    """A CSV line of the AWS 1.2 sample with one field replaced."""
    header = next(csv.reader([lines_of(AWS_12)[0]]))
    fields = next(csv.reader([line]))
    fields[header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue()


def make_truncated_gzip(tmp: Path) -> Path:
    full = gzip.compress(AWS_12.read_bytes())
    path = tmp / "truncated.csv.gz"
    path.write_bytes(full[: len(full) // 2])
    return path


def make_semicolon_decimal_comma(tmp: Path) -> Path:
    path = tmp / "semicolon.csv"
    head, first = lines_of(AWS_12)[:2]
    # A spreadsheet's European CSV: ';' between fields, ',' in decimals.
    header = head.replace(",", ";")
    row = (
        first.replace(",0.086400,", ";0,086400;")
        .replace(",", ";")
        .replace(";0;086400;", ";0,086400;")
    )
    path.write_text(header + row, encoding="utf-8")
    return path


def make_mixed_delimiter(tmp: Path) -> Path:
    path = tmp / "mixed.csv"
    lines = lines_of(AWS_12)[:4]
    lines[2] = lines[2].replace(",", ";")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def make_latin1(tmp: Path) -> Path:
    path = tmp / "latin1.csv"
    lines = lines_of(AWS_12)[:5]
    lines[3] = with_field(lines[3], "ChargeDescription", "Linux \xe0 la demande")
    path.write_bytes("".join(lines[:3]).encode() + "".join(lines[3:]).encode("latin-1"))
    return path


def make_missing_columns(tmp: Path) -> Path:
    path = tmp / "missing.csv"
    text = AWS_12.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    header = header.replace("BillingCurrency", "BillingCurrencyCode").replace(
        ",ChargeCategory,", ",Category,"
    )
    path.write_text(header + "\n" + rest, encoding="utf-8")
    return path


def make_bad_number(tmp: Path) -> Path:
    path = tmp / "bad-number.csv"
    lines = lines_of(AWS_12)[:6]
    lines[4] = with_field(lines[4], "BilledCost", "12..5")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def make_bad_date(tmp: Path) -> Path:
    path = tmp / "bad-date.csv"
    lines = lines_of(AWS_12)[:4]
    lines[2] = with_field(lines[2], "ChargePeriodEnd", "31/05/2026 01:00")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def make_bad_tags(tmp: Path) -> Path:
    path = tmp / "bad-tags.csv"
    lines = lines_of(AWS_12)[:4]
    lines[3] = with_field(lines[3], "Tags", "team=web")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def make_other_format(tmp: Path) -> Path:
    path = tmp / "invoice.csv"
    path.write_text("Invoice,Amount,Due\nINV-1,100.00,2024-10-01\n", encoding="utf-8")
    return path


def make_binary(tmp: Path) -> Path:
    path = tmp / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return path


def make_empty(tmp: Path) -> Path:
    path = tmp / "empty.csv"
    path.write_bytes(b"")
    return path


def make_header_only(tmp: Path) -> Path:
    path = tmp / "header-only.csv"
    path.write_text(lines_of(AWS_12)[0], encoding="utf-8")
    return path


def make_contract_commitment_without_end(tmp: Path) -> Path:
    lines = (
        (SAMPLES / "focus" / "1.3" / "aws_contract_commitment.csv").read_text("utf-8").splitlines()
    )
    header = lines[0].split(",")
    at = header.index("ContractCommitmentPeriodEnd")
    fields = lines[3].split(",")
    fields[at] = ""
    lines[3] = ",".join(fields)
    path = tmp / "contract-commitment.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


CASES = {
    "truncated gzip": (
        make_truncated_gzip,
        "{path}: the gzip data is truncated or damaged",
    ),
    "semicolons with decimal commas": (
        make_semicolon_decimal_comma,
        "{path}: line 2, column BilledCost: '0,086400' is not a number. Fix or remove the value and run again.",
    ),
    "mixed delimiter": (
        make_mixed_delimiter,
        "{path}: line 3 has 1 fields but the header has 57. The file is cut short or has an unquoted delimiter: re-download or fix that line.",
    ),
    "not utf-8": (
        make_latin1,
        "{path}: line 4 is not UTF-8 text. Billing exports are UTF-8: re-export, or convert the file with `iconv -f <encoding> -t utf-8`.",
    ),
    "missing mandatory columns": (
        make_missing_columns,
        "{path}: a FOCUS 1.2 export must have the mandatory columns BillingCurrency, ChargeCategory, which are missing. Export the full FOCUS dataset (or add the columns) and run again.",
    ),
    "unparseable number": (
        make_bad_number,
        "{path}: line 5, column BilledCost: '12..5' is not a number. Fix or remove the value and run again.",
    ),
    "unparseable date": (
        make_bad_date,
        "{path}: line 3, column ChargePeriodEnd: '31/05/2026 01:00' is not a date-time. Fix or remove the value and run again.",
    ),
    "tags not json": (
        make_bad_tags,
        "{path}: data row 3, column Tags: 'team=web' is not a JSON object. Fix the value (for example {{\"team\": \"web\"}}) and run again.",
    ),
    "another format": (
        make_other_format,
        "{path}: not a billing format cloudtally knows (its columns start Invoice, Amount, Due). Supported: {known}; force one with --format NAME.",
    ),
    "binary file": (
        make_binary,
        "{path}: line 1 is not UTF-8 text. Billing exports are UTF-8: re-export, or convert the file with `iconv -f <encoding> -t utf-8`.",
    ),
    "empty file": (
        make_empty,
        "{path}: the file is empty. Re-download the export and run again.",
    ),
    "header only": (
        make_header_only,
        "{path}: the file has a header but no rows. Re-download the export.",
    ),
    "contract commitment without an end": (
        make_contract_commitment_without_end,
        "{path}: data row 3, column ContractCommitmentPeriodEnd is empty; FOCUS requires it on every Contract Commitment row. Fix the export.",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_is_refused_and_the_store_is_unchanged(
    cli, data_dir: Path, tmp_path: Path, case: str
) -> None:
    assert cli("ingest", FOCUS_10).exit_code == 0
    before = lake_snapshot(data_dir)
    make, message = CASES[case]
    bad = make(tmp_path)
    result = cli("ingest", bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    known = ", ".join(sorted(Converter.registry))
    assert result.stderr.startswith("Error: " + message.format(path=bad.resolve(), known=known))
    assert result.stderr.count("\n") == 1, result.stderr  # one message, no traceback
    assert lake_snapshot(data_dir) == before


def test_a_bad_file_among_good_ones_stores_none_of_them(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "a-good.csv").write_bytes(AWS_12.read_bytes())
    make_bad_number(folder)
    result = cli("ingest", folder)
    assert result.exit_code == 1
    assert "bad-number.csv: line 5, column BilledCost" in result.stderr
    assert lake_snapshot(data_dir) == {}


def test_missing_path(cli, tmp_path: Path) -> None:
    result = cli("ingest", tmp_path / "nope.csv")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: {tmp_path / 'nope.csv'}: no such file or folder. Check the path and run again.\n"
    )


def test_unknown_format_name_suggests_the_closest(cli) -> None:
    result = cli("ingest", "--format", "focsu", FOCUS_10)
    assert result.exit_code == 1
    known = ", ".join(sorted(Converter.registry))
    assert result.stderr == (
        f"Error: Unknown format 'focsu'. Did you mean 'focus'? Known formats: {known}.\n"
    )


def test_debug_shows_the_traceback(cli, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cloudtally.cli import app
    from cloudtally.errors import IngestError

    result = CliRunner().invoke(
        app, ["--debug", "--data-dir", str(tmp_path / "d"), "ingest", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, IngestError)
