"""The redaction step (``channels.redaction``): each kind, the tricky negatives, the
placeholders' idempotence, spans the caller knows, JSON records, the setting, and the
recall and precision per kind on the labelled set (``tests/fixtures/pii/labelled.jsonl``)."""

from __future__ import annotations

import itertools
import json
import pickle
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.redaction import KINDS, score
from channels.redaction import (
    ALL_KINDS,
    PHONE_REGIONS,
    RedactionKind,
    RedactionSettingsError,
    Redactor,
    Span,
    parse_kinds,
)
from tests.conftest import FIXTURES

LABELLED = FIXTURES / "pii" / "labelled.jsonl"
# What the chosen implementation reaches on the whole set (bench/redaction.py prints it):
# recall 1.000/0.990/1.000/1.000 and precision 1.000/1.000/0.989/1.000 for
# email/phone/card/iban, so one more miss or false alarm per kind still passes.
MIN_RECALL = MIN_PRECISION = 0.98

REDACTOR = Redactor()


def _rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]


def _found(text: str, redactor: Redactor = REDACTOR) -> list[tuple[str, str]]:
    return [(text[s.start:s.end], s.kind) for s in redactor.find(text)]


@pytest.mark.parametrize(("text", "value"), [
    ("mail me at jane.doe+news@mail.example.co.uk, thanks", "jane.doe+news@mail.example.co.uk"),
    ("mailto:help.desk@uni-heidelberg.de", "help.desk@uni-heidelberg.de"),
    ("<TOM.BAKER@YAHOO.COM>", "TOM.BAKER@YAHOO.COM"),
    ("it's 'tanaka.h@example.jp'.", "tanaka.h@example.jp"),
    ("josé.pérez@correo.mx", "josé.pérez@correo.mx"),
    ("info@müller-bäckerei.de ist unsere Adresse", "info@müller-bäckerei.de"),
    ("@ first, then a@b.io", "a@b.io"),
])
def test_emails(text: str, value: str) -> None:
    assert _found(text) == [(value, "email")]


@pytest.mark.parametrize(("text", "value"), [
    ("call (415) 555-0132 after 6pm", "(415) 555-0132"),
    ("1-888-204-5571 is the hotline", "1-888-204-5571"),
    ("whatsapp:+14155238886", "+14155238886"),
    ("ring me on +44 (0)20 7946 0018", "+44 (0)20 7946 0018"),
    ("my mobile is 07700 900461", "07700 900461"),
    ("Tel.: 089/21802211", "089/21802211"),
    ("Mobil: 0176 - 123 456 78", "0176 - 123 456 78"),
    ("0049 171 2233445 bitte", "0049 171 2233445"),
    ("Mon numéro : 06 12 34 56 78", "06 12 34 56 78"),
    ("tél. 01.99.00.12.34", "01.99.00.12.34"),
    ("Mi teléfono es 612 34 56 78", "612 34 56 78"),
    ("il mio cellulare è 333 123 4567", "333 123 4567"),
    ("mijn nummer is 06-12345678", "06-12345678"),
    ("mob: 9876543210", "9876543210"),
    ("telefone (11) 91234-5678", "(11) 91234-5678"),
    ("my mobile is 0491 570 156", "0491 570 156"),
    ("Tokyo +81 3-3224-9999", "+81 3-3224-9999"),
])
def test_phones(text: str, value: str) -> None:
    assert _found(text) == [(value, "phone")]


@pytest.mark.parametrize(("text", "value"), [
    ("my card number is 4539 1488 0343 6467", "4539 1488 0343 6467"),
    ("card: 4024-0071-5587-2137 exp 08/27", "4024-0071-5587-2137"),
    ("Card:5466162903847519", "5466162903847519"),
    ("amex 3782 822463 10005", "3782 822463 10005"),
    ("new mastercard 2221 0000 4829 1156", "2221 0000 4829 1156"),
    ("unionpay 6240 1234 5678 9012 343", "6240 1234 5678 9012 343"),
    ("diners club 3056 930902 5904", "3056 930902 5904"),
    ("4111 1111 1111 1111 12/26 is the card", "4111 1111 1111 1111"),
])
def test_cards(text: str, value: str) -> None:
    assert _found(text) == [(value, "card")]


@pytest.mark.parametrize(("text", "value"), [
    ("my IBAN is DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ("IBAN DE89 37040044 0532013000, BIC COBADEFFXXX", "DE89 37040044 0532013000"),
    ("refund to de84 7602 6000 0001 2345 67 please", "de84 7602 6000 0001 2345 67"),
    ("please pay into GB29NWBK60161331926819", "GB29NWBK60161331926819"),
    ("mon IBAN : FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("norsk konto NO93 8601 1117 947 takk", "NO93 8601 1117 947"),
    ("FR40303265045 DE89370400440532013000", "DE89370400440532013000"),
])
def test_ibans(text: str, value: str) -> None:
    assert _found(text) == [(value, "iban")]


@pytest.mark.parametrize("text", [
    "where is my order ORD-2024-558812?", "order #558812 still not shipped",
    "Amazon order 112-3456789-1234567", "PO 4500123456 needs to be on the invoice",
    "invoice 9001234567 from last month", "DHL Express waybill 4512345678",
    "bestelnummer 0612345678", "Pedido nº 3000123456",
    "2024-03-15 14:32:10,123 ERROR", "booking from 15.03.2024 - 22.03.2024",
    "from 01/04/2024 to 30/04/2024", "03/15/2024 at 10:42", "we had issues in 2019 2020 2021",
    "the TV cost €1,299.00", "I was charged $12 345", "Preis: 1.299,00 €",
    "price went from 1 299 000 Ft", "tracking 1Z999AA10123456784",
    "USPS tracking 9400 1000 0000 0000 0000 00", "DHL 00340434161094042557",
    "IMEI 356938035643809", "SIM ICCID 8944 1000 1234 5678 903",
    "my card was 4111 1111 1111 1112", "customer number 1234567890123452",
    "**** **** **** 4242", "IBAN DE90 3704 0044 0532 0130 00 was rejected",
    "NL92 ABNA 0417 1643 00 doesn't work", "DE8937040044053201300 has a digit missing",
    "our VAT id is DE123456789", "BIC DEUTDEFF", "server 192.168.10.254",
    "v3.12.4 (build 24.3.15.1021)", "npm install react@18.2.0", "logo@2x.png is blurry",
    "@maria can you check", "ISBN 978-3-16-148410-0", "UPC 036000291452",
    "Hauptstraße 12, 10115 Berlin", "SIRET 362 521 879 00034", "receipt 0042-1337-0815",
    "scores 12 34 56 78 90", "+971 not working", "unix time 1710496800",
])
def test_tricky_negatives(text: str) -> None:
    assert _found(text) == []


def test_kinds_choose_the_detectors() -> None:
    text = "a@b.io, +44 20 7946 0958, 4111 1111 1111 1111, DE89 3704 0044 0532 0130 00"
    assert [kind for _, kind in _found(text, Redactor(kinds={"email", "iban"}))] == [
        "email", "iban"]
    assert Redactor(kinds=()).redact(text) == text
    assert REDACTOR.redact(text) == "[email], [phone], [card], [iban]"


def test_phone_regions_choose_the_national_formats() -> None:
    us_only = Redactor(phone_regions=("us",))
    assert _found("06 12 34 56 78", us_only) == []
    assert _found("+33 6 12 34 56 78", us_only) == [("+33 6 12 34 56 78", "phone")]
    assert _found("312-847-2291", us_only) == [("312-847-2291", "phone")]
    with pytest.raises(RedactionSettingsError, match="'XX'"):
        Redactor(phone_regions=("US", "XX"))
    assert {"US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "AU"} <= PHONE_REGIONS


def test_redaction_is_idempotent_on_the_labelled_set() -> None:
    for row in _rows():
        once = REDACTOR.redact(str(row["text"]))
        assert REDACTOR.redact(once) == once
        assert REDACTOR.find(once) == []


@given(st.text(alphabet="0123456789 +-./()@:#abeEDGBxé[]_,\n", max_size=80))
def test_redaction_is_idempotent_on_any_text(text: str) -> None:
    once = REDACTOR.redact(text)
    assert REDACTOR.redact(once) == once


@given(st.text(max_size=60))
def test_found_spans_are_sorted_and_disjoint(text: str) -> None:
    spans = REDACTOR.find(text)
    assert all(0 <= s.start < s.end <= len(text) for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_extra_spans_merge_with_what_is_found() -> None:
    text = "account 12345 of jane@example.com, ok"
    email = text.index("jane")
    extra = [Span(8, 13, "account_number"),
             Span(email - 3, email + 2, "customer_name"),  # "of ja…": merges with the address
             Span(30, 10, "empty"), Span(-5, 3, "clipped")]
    assert REDACTOR.redact(text, extra) == "[clipped]ount [account_number] [email], ok"
    longer = [Span(email - 3, len(text), "customer_name")]  # the address and more
    assert REDACTOR.redact(text, longer) == "account 12345 [customer_name]"
    assert REDACTOR.redact("nothing here", [Span(0, 7, "thing")]) == "[thing] here"


def test_entity_patterns_are_found_and_placeholders_stay() -> None:
    redactor = Redactor(entity_patterns={"member_id": [r"\bM-\d{4}\b"], "word": ["phone"]})
    text = "member M-1234 called from +44 20 7946 0958 about his phone"
    assert redactor.redact(text) == "member [member_id] called from [phone] about his [word]"
    assert redactor.redact(redactor.redact(text)) == redactor.redact(text)
    with pytest.raises(RedactionSettingsError, match="member_id"):
        Redactor(entity_patterns={"member_id": ["(unclosed"]})
    with pytest.raises(RedactionSettingsError, match="bad name"):
        Redactor(entity_patterns={"bad name": ["x"]})


def test_redact_value_walks_json_records() -> None:
    record = {"text": "call +44 20 7946 0958", "n": 3, "ok": True, "none": None,
              "a@b.io": ["x@y.org", {"deep": ("4111 1111 1111 1111", 1.5)}]}
    redacted = REDACTOR.redact_value(record)
    assert redacted == {"text": "call [phone]", "n": 3, "ok": True, "none": None,
                        "a@b.io": ["[email]", {"deep": ("[card]", 1.5)}]}
    assert record["text"] == "call +44 20 7946 0958"  # a new structure, the old one intact


@pytest.mark.parametrize(("raw", "kinds"), [
    (None, ALL_KINDS), ("", ALL_KINDS), (" ALL ", ALL_KINDS), ("off", frozenset()),
    ("email,phone", {"email", "phone"}), (" card , IBAN ", {"card", "iban"}),
])
def test_parse_kinds(raw: str | None, kinds: frozenset[str]) -> None:
    assert parse_kinds(raw) == kinds


@pytest.mark.parametrize("raw", ["emial", "email,phones", ",", "email;phone", "entity"])
def test_parse_kinds_refuses_names_it_does_not_know(raw: str) -> None:
    with pytest.raises(RedactionSettingsError) as error:
        parse_kinds(raw, variable="PARLEY_X_REDACT")
    message = str(error.value)
    assert "PARLEY_X_REDACT" in message
    assert all(kind in message for kind in ("all", "off", "email", "phone", "card", "iban"))
    assert isinstance(error.value, ValueError)


def test_placeholders_are_the_kind_names() -> None:
    assert {str(kind) for kind in RedactionKind} == {*ALL_KINDS, "entity"}
    assert all(not re.search(r"[\d@]", f"[{kind}]") for kind in RedactionKind)


def test_a_redactor_is_shared_by_threads_and_pickles() -> None:
    texts = [str(row["text"]) for row in _rows()]
    expected = [REDACTOR.find(text) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(REDACTOR.find, texts * 4)) == expected * 4
    copy = pickle.loads(pickle.dumps(REDACTOR))
    assert [copy.find(text) for text in texts] == expected


def test_long_hostile_lines_cost_linear_time() -> None:
    lines = ["1 " * 50_000, "4111 " * 40_000, "a@b.co@" * 20_000, "x@" + "a." * 50_000,
             "DE12 " * 40_000, "+49 (0)30 1234-5678 / " * 10_000]
    begin = time.process_time()
    for line in lines:
        REDACTOR.find(line)
    assert time.process_time() - begin < 10  # about 1 s here; quadratic would be hours


def test_the_labelled_set_is_well_formed() -> None:
    rows = _rows()
    assert len(rows) >= 300
    counts = {kind: sum(p["kind"] == kind for r in rows for p in r["pii"]) for kind in KINDS}
    assert min(counts.values()) >= 60 and sum(not r["pii"] for r in rows) >= 100
    for row in rows:
        text = str(row["text"])
        for pii in row["pii"]:  # type: ignore[attr-defined]
            value = text[pii["start"]:pii["end"]]
            assert value == pii["text"], row
            if pii["kind"] == "card":
                digits = [int(c) for c in reversed(re.sub(r"\D", "", value))]
                assert sum(d if i % 2 == 0 else (2 * d) // 10 + (2 * d) % 10
                           for i, d in enumerate(digits)) % 10 == 0, value
            if pii["kind"] == "iban":
                compact = re.sub(r"\s", "", value).upper()
                rearranged = compact[4:] + compact[:4]
                assert int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1, value


def test_recall_and_precision_per_kind_on_the_labelled_set() -> None:
    counts, errors = score(_rows(), lambda text: [(s.start, s.end, s.kind)
                                                  for s in REDACTOR.find(text)])
    for kind, (tp, fp, fn) in counts.items():
        assert tp / (tp + fn) >= MIN_RECALL, (kind, errors)
        assert tp / (tp + fp) >= MIN_PRECISION, (kind, errors)
