"""One redaction step for everything Parley stores or logs: e-mail addresses, phone numbers,
payment card numbers, IBANs and the bot's own entities marked sensitive.

The NLU sees the real text; log lines, the archive's stored text, the desk pages for users
without the right role and every export go through ``Redactor.redact`` (or
``redact_value`` for JSON records). The detectors are the standard library's ``re`` plus
checksums, chosen by measurement over ``phonenumbers`` and Presidio's pattern recognizers
(``bench/redaction.py``, labelled set ``tests/fixtures/pii/labelled.jsonl``):

- e-mail: ``local@domain.tld``, unicode letters allowed, the TLD alphabetic and not a file
  extension (``logo@2x.png``, ``react@18.2.0`` are not addresses);
- card: 13–19 digits, grouped 4-4-4-4(-n), 4-6-5 or 4-6-4 with spaces or dashes, a known
  IIN range for its length, and the Luhn check;
- IBAN: country code, two check digits and the BBAN, spaced or not, any case, the
  country's length and the mod-97 check;
- phone: ``+``/``00`` numbers with a known country code and a plausible length for it, and
  the national formats (digits and grouping) of the configured regions; never a run glued
  to a word, a price, a date, or one whose nearest keyword before it names an order,
  invoice, ticket, parcel or other reference.

Placeholders (``[email]``, ``[phone]``, ``[card]``, ``[iban]``, ``[<entity>]``) hold no
digit and no ``@``, so ``redact(redact(x)) == redact(x)``. A ``Redactor`` is immutable
after construction (compiled patterns only), so threads and forked workers share it.

Errors::

    ValueError
     └── RedactionSettingsError   a bad PARLEY_REDACT, region or entity pattern
"""

from __future__ import annotations

import enum
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["ALL_KINDS", "DEFAULT_PHONE_REGIONS", "PHONE_REGIONS", "RedactionKind",
           "RedactionSettingsError", "Redactor", "Span", "parse_kinds"]


class RedactionKind(enum.StrEnum):
    """The pattern kinds, and ``ENTITY``: the placeholder for a sensitive entity whose
    name a caller does not want in the output (``Span(…, RedactionKind.ENTITY)``)."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    ENTITY = "entity"


ALL_KINDS: frozenset[str] = frozenset({RedactionKind.EMAIL, RedactionKind.PHONE,
                                       RedactionKind.CARD, RedactionKind.IBAN})


class RedactionSettingsError(ValueError):
    """A redaction setting that cannot be used; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` is sensitive; ``kind`` is a ``RedactionKind`` value or, for a
    sensitive entity, the entity's name (the placeholder becomes ``[<kind>]``)."""

    start: int
    end: int
    kind: str


def parse_kinds(raw: str | None, *, variable: str = "PARLEY_REDACT") -> frozenset[str]:
    """The pattern kinds a setting names: ``all`` (also when unset or empty), ``off``, or a
    comma-separated list of ``email``, ``phone``, ``card``, ``iban``."""
    value = (raw or "").strip().lower()
    if value in ("", "all"):
        return ALL_KINDS
    if value == "off":
        return frozenset()
    names = [name.strip() for name in value.split(",") if name.strip()]
    bad = [name for name in names if name not in ALL_KINDS]
    if bad or not names:
        allowed = ", ".join(sorted(ALL_KINDS))
        raise RedactionSettingsError(
            f"{variable}={raw!r}: {', '.join(map(repr, bad)) or 'no kind'} is not a kind; "
            f"expected 'all', 'off' or a comma-separated list of {allowed}")
    return frozenset(names)


_IBAN_LENGTHS = {item[:2]: int(item[2:]) for item in (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 "
    "DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 "
    "HR21 HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 "
    "MC27 MD24 ME22 MK19 MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 "
    "RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 "
    "VA22 VG24 XK20 YE30").split()}

# first digits low:high:lengths (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro, Mir, RuPay, Troy). UATP (1…) is left out: it is where order ids live.
_IINS = [(int(lo), int(hi), {13, 16, 19} if n == "V" else set(range(int(n[:2]), int(n[-2:]) + 1)))
         for lo, hi, n in (item.split(":") for item in (
             "4:4:V 51:55:16 2221:2720:16 34:34:15 37:37:15 6011:6011:16-19 644:649:16-19 "
             "65:65:16-19 3528:3589:16-19 300:305:14-16 3095:3095:14-16 36:36:14-19 38:39:14-16 "
             "62:62:16-19 50:50:13-19 56:58:13-19 63:63:13-19 67:67:13-19 2200:2204:16-19 "
             "60:60:16 81:82:16 9792:9792:16").split())]

_TWO_DIGIT_CC = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 "
    "63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split())
# National significant number lengths per calling code; others 6–12 (E.164: 15 in all).
_NSN = {cc: (int(lo), int(hi)) for cc, lo, hi in (re.split("[:-]", item) for item in (
    "1:10-10 7:10-10 20:8-10 27:9-9 30:10-10 31:9-9 32:8-9 33:9-9 34:9-9 36:8-9 39:6-11 "
    "40:9-9 41:9-9 43:4-13 44:7-10 45:8-8 46:7-10 47:8-8 48:9-9 49:6-13 52:10-10 55:10-11 "
    "61:9-9 65:8-8 81:9-10 82:8-10 86:10-11 90:10-10 91:10-10 351:9-9 352:6-11 353:7-9 "
    "358:6-11 971:8-9").split())}
_NANP = r"[2-9](?!11)[0-8]\d[2-9](?!11)\d\d\d{4}"  # area code, exchange, line
_NANP_NUMBER = re.compile(_NANP)

# National formats: (digits, group lengths joined by '-') per region; both must match.
_NATIONAL: dict[str, list[tuple[str, str]]] = {
    "US": [(r"1?" + _NANP, r"10|11|3-3-4|1-3-3-4")],
    "GB": [(r"0[1-35789]\d{8,9}", r"1[01]|[3-5]-[3-6]-[3-4]|[3-5]-[6-8]")],
    "DE": [(r"0[1-9]\d{8,10}", r"1[0-2]|[3-5](?:-\d+){1,4}")],
    "FR": [(r"0[1-9]\d{8}", r"10|2-2-2-2-2|1-3-2-2-2")],
    "ES": [(r"[6-9]\d{8}", r"9|3-3-3|3-2-2-2|2-3-2-2|3-6")],
    "IT": [(r"3\d{8,9}", r"9|10|3-3-4|3-3-3|3-4-3|3-[67]"),
           (r"0\d{8,10}", r"9|1[01]|[2-4](?:-\d+){1,3}")],
    "NL": [(r"0[1-9]\d{8}", r"10|2-8|3-7|4-6|3-3-4|2-4-4|2-2-2-2-2")],
    "IN": [(r"0?[6-9]\d{9}", r"1[01]|5-5|6-5|3-3-4|1-5-5"),
           (r"0[1-9]\d{9}", r"11|3-4-4|3-8|4-7|4-3-4")],
    "BR": [(r"0?[1-9][1-9]9?\d{8}", r"[23]-[45]-4|2-[89]")],
    "AU": [(r"0[2-478]\d{8}", r"10|4-3-3|2-4-4")],
}
_NATIONAL["CA"] = _NATIONAL["US"]
PHONE_REGIONS: frozenset[str] = frozenset(_NATIONAL)
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "AU")

_LOCAL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}\Z")
_DOMAIN = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+([^\W\d_]{2,63})(?![\w-]|\.[^\W_])")
_FILE_EXTENSIONS = frozenset("png jpg jpeg gif svg webp bmp tif tiff heic pdf txt html htm "
                             "json xml csv yaml yml js css ts tsx jsx doc docx xls xlsx".split())
_SPACE = "[ \u00a0]"
_RUN = re.compile(rf"\+?\(?\d+(?:(?:{_SPACE}?\(0\){_SPACE}?|\){_SPACE}?|{_SPACE}\(|[ \u00a0./-]"
                  rf"|{_SPACE}[/-]{_SPACE})\d+)*")
_GROUP = re.compile(r"\d+")
# A lookahead, so that a failed candidate does not hide an IBAN that starts inside it.
_IBAN = re.compile(rf"(?<![\w])(?=([A-Za-z]{{2}})(\d{{2}})((?:{_SPACE}?[A-Za-z0-9]){{8,34}}))")
# The rest of an IBAN-shaped string (a bad checksum, a typo) is no phone number either.
_IBAN_REST = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?:[ \u00a0][A-Z0-9]{4})+[ \u00a0]\Z")
_DAY, _MONTH = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])"
_DATE = re.compile(rf"(?:{_DAY}[./-]{_MONTH}|{_MONTH}[./-]{_DAY})[./-](?:\d{{4}}|\d\d)"
                   rf"|\d{{4}}[./-]{_MONTH}[./-]{_DAY}(?![./-]?\d)")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹₽]|\b(?:R\$|Rs\.?|EUR|USD|GBP|CHF))[ \u00a0]?\Z")
_CURRENCY_AFTER = re.compile(r"[ \u00a0]?(?:[$€£¥₹₽]|(?:EUR|USD|GBP|CHF|Ft|kr|zł)\b)")
# Words before a number: group 1 says phone, group 2 a reference ("Bestellnummer" and every
# other "…nummer"/"…nr" but the phone ones). "number", "no", "nr" alone say neither.
_PHONE_WORDS = ("phone tel telephone call mobile cell ring whatsapp fax contact handy telefon "
                "festnetz mobil rückruf anrufen téléphone tél portable appel teléfono móvil "
                "llámame telefono cellulare chiamami bel mob landline sms text reach "
                "(?:telefon|handy|ruf|mobil|fax|telefoon|mobiel)(?:nummer|nr)")
_REFERENCE_WORDS = (
    "orders? ord invoice inv ticket case ref reference tracking track waybill parcel package "
    "shipment consignment po rma serial sn imei iccid sku ean upc isbn gtin item article "
    "customer member account acct voucher coupon code pin session chat id batch receipt "
    "transaction contract part bestellung auftrag rechnung sendung quittung beleg vertrag "
    "commande facture colis suivi reçu contrat siret siren pedido factura envío seguimiento "
    "recibo albar[aá]n referencia ordine fattura spedizione bestelling factuur zending "
    r"\w+nummer \w+nr")
_CONTEXT = re.compile(rf"\b(?:({'|'.join(_PHONE_WORDS.split())})"
                      rf"|({'|'.join(_REFERENCE_WORDS.split())}))\b")
_ENTITY_NAME = re.compile(r"\w[\w.-]{0,63}")
_PLACEHOLDER = re.compile(r"\[\w[\w.-]{0,63}\]")
_DIGITS = "0123456789"


class Redactor:
    """Finds and replaces the configured kinds of sensitive text (module docstring)."""

    __slots__ = ("_entities", "_kinds", "_national")

    def __init__(self, *, kinds: Iterable[str] = ALL_KINDS,
                 phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
                 entity_patterns: Mapping[str, Iterable[str]] | None = None) -> None:
        """``entity_patterns``: regular expressions per sensitive entity of the bot folder
        (its regex and lookup entries), found by ``find`` as spans of that entity's name."""
        self._kinds = frozenset(kinds)
        if unknown := self._kinds - ALL_KINDS:
            raise RedactionSettingsError(f"unknown redaction kinds {sorted(unknown)}; "
                                         f"expected some of {sorted(ALL_KINDS)}")
        regions = [region.upper() for region in phone_regions]
        if unknown_regions := sorted(set(regions) - PHONE_REGIONS):
            raise RedactionSettingsError(f"phone regions {unknown_regions} are not supported; "
                                         f"expected some of {sorted(PHONE_REGIONS)}")
        rules = {rule for region in regions for rule in _NATIONAL[region]}
        self._national = tuple((re.compile(digits), re.compile(groups))
                               for digits, groups in sorted(rules))
        self._entities = tuple(_compiled_entities(entity_patterns or {}))

    def find(self, text: str) -> list[Span]:
        """Sensitive spans of ``text``, sorted and non-overlapping (the longer one wins)."""
        spans: list[Span] = []
        if RedactionKind.EMAIL in self._kinds and "@" in text:
            spans += _emails(text)
        if (self._kinds & {RedactionKind.PHONE, RedactionKind.CARD, RedactionKind.IBAN}
                and sum(map(text.count, _DIGITS)) >= 7):
            if RedactionKind.IBAN in self._kinds:
                spans += _ibans(text)
            if self._kinds & {RedactionKind.PHONE, RedactionKind.CARD}:
                spans += self._numbers(text)
        if self._entities:
            taken = [m.span() for m in _PLACEHOLDER.finditer(text)]  # stay idempotent
            for name, pattern in self._entities:
                spans += [Span(m.start(), m.end(), name) for m in pattern.finditer(text)
                          if m.end() > m.start()
                          and not any(s < m.end() and m.start() < e for s, e in taken)]
        return _non_overlapping(spans)

    def redact(self, text: str, extra: Iterable[Span] = ()) -> str:
        """``text`` with each found span and each of ``extra`` (spans the caller knows, e.g.
        sensitive entities from the NLU, honoured whatever ``kinds`` says, even none)
        replaced by ``[<kind>]``; overlapping spans merge into one placeholder of the longest
        one's kind; spans are clipped to the text and empty ones ignored."""
        spans = self.find(text)
        known = [Span(max(0, s.start), min(len(text), s.end), s.kind) for s in extra]
        if known:
            spans = _merged([*spans, *(s for s in known if s.start < s.end)])
        out: list[str] = []
        position = 0
        for span in spans:
            out += (text[position:span.start], f"[{span.kind}]")
            position = span.end
        out.append(text[position:])
        return "".join(out)

    def redact_value(self, value: object) -> object:
        """A copy of a JSON-like record with every string value redacted (dict keys kept:
        they are field names); other values are returned as they are."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        return value

    def _numbers(self, text: str) -> list[Span]:
        spans: list[Span] = []
        for run in _RUN.finditer(text):
            start, end = run.span()
            if end - start < 9 or _glued(text, start, end) or _IBAN_REST.search(
                    text, max(0, start - 40), start):
                continue  # fewer than 9 characters hold neither a phone nor a card
            groups = [(g.start() + start, g.end() + start) for g in _GROUP.finditer(run[0])]
            if RedactionKind.CARD in self._kinds and (card := _card(text, groups)):
                spans.append(card)
            elif RedactionKind.PHONE in self._kinds and self._is_phone(text, start, end, groups):
                spans.append(Span(start, end, RedactionKind.PHONE))
        return spans

    def _is_phone(self, text: str, start: int, end: int, groups: list[tuple[int, int]]) -> bool:
        """Whether a whole run is a phone number (a part of one is not: ``SIRET 362 521 879
        00034`` holds no phone)."""
        digits = "".join(text[s:e] for s, e in groups)
        if text[start] == "+":
            return _international(digits)
        if digits.startswith("00") and not digits.startswith("000"):
            first = text[groups[0][0] + 2:groups[0][1]]  # "0049 …" or "00 49 …"
            return (_international(digits[2:], code=first or None)
                    and not _negative_context(text, start))
        if len(digits) < 9 or len(digits) > 12 or _DATE.match(text, start):
            return False
        if _CURRENCY_BEFORE.search(text, max(0, start - 5), start) or _CURRENCY_AFTER.match(
                text, end) or _negative_context(text, start):
            return False
        shape = "-".join(str(e - s) for s, e in groups)
        return any(d.fullmatch(digits) and g.fullmatch(shape) for d, g in self._national)


def _compiled_entities(patterns: Mapping[str, Iterable[str]]) -> Iterable[
        tuple[str, re.Pattern[str]]]:
    for name, sources in sorted(patterns.items()):
        if not _ENTITY_NAME.fullmatch(name) or name in ALL_KINDS:
            raise RedactionSettingsError(f"sensitive entity {name!r}: a name is letters, "
                                         "digits, '_', '.' or '-' and not a pattern kind")
        for source in sources:
            try:
                yield name, re.compile(source)
            except re.error as exc:
                raise RedactionSettingsError(
                    f"sensitive entity {name!r}: pattern {source!r} is not a regular "
                    f"expression ({exc})") from exc


def _emails(text: str) -> list[Span]:
    spans: list[Span] = []
    at = text.find("@")
    while at >= 0:
        local = _LOCAL.search(text, max(0, at - 64), at)
        domain = _DOMAIN.match(text, at + 1)
        if local and domain and domain[1].lower() not in _FILE_EXTENSIONS:
            start = local.start()
            while start < at and not (text[start].isalnum() or text[start] == "_"):
                start += 1  # quotes and dots before an address are not part of it
            if start < at:
                spans.append(Span(start, domain.end(), RedactionKind.EMAIL))
        at = text.find("@", at + 1)
    return spans


def _ibans(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in _IBAN.finditer(text):
        country = match[1].upper()
        length = _IBAN_LENGTHS.get(country)
        if length is None:
            continue
        need, end = length - 4, match.start(3)
        while need and end < match.end(3):
            need -= text[end].isalnum()
            end += 1
        if need or (end < len(text) and text[end].isalnum()):
            continue
        value = (match[2] + text[match.start(3):end]).replace(" ", "").replace("\u00a0", "")
        number = "".join(str(int(c, 36)) for c in value[2:] + country + value[:2])
        if int(number) % 97 == 1:
            spans.append(Span(match.start(), end, RedactionKind.IBAN))
    return spans


def _glued(text: str, start: int, end: int) -> bool:
    """Whether a digit run continues a word, a code or a number (``ORD-2024…``,
    ``1Z999…``, ``1.299,00``, ``10:42``) instead of standing on its own."""
    before = text[start - 1] if start > 0 else " "
    glue = text[start - 2] if start > 1 else " "
    after = text[end] if end < len(text) else " "
    next_ = text[end + 1] if end + 1 < len(text) else " "
    return ((before.isalnum() or before in "_#@")
            or (before in "-/." and glue.isalnum())
            or (before in ",:" and glue.isdigit())
            or (after.isalnum() or after in "_@")
            or (after in "-/.,:" and next_.isalnum()))


def _card(text: str, groups: list[tuple[int, int]]) -> Span | None:
    """The longest window of whole groups (leftmost of equals) that is a card number in a
    card's grouping; windows hold 13–19 digits, so a long run costs O(groups)."""
    best: Span | None = None
    for first in range(len(groups)):
        total = 0
        # Every grouping of several groups starts with four digits; one group stands alone.
        stop = len(groups) if groups[first][1] - groups[first][0] == 4 else first + 1
        for last in range(first, stop):
            total += groups[last][1] - groups[last][0]
            if total > 19:
                break
            part = groups[first:last + 1]
            if (total >= 13 and (best is None or part[-1][1] - part[0][0] > best.end - best.start)
                    and _card_grouping(text, part) and _is_card("".join(
                        text[s:e] for s, e in part))):
                best = Span(part[0][0], part[-1][1], RedactionKind.CARD)
    return best


def _card_grouping(text: str, part: list[tuple[int, int]]) -> bool:
    lengths = [e - s for s, e in part]
    separators = {text[e:s] for (_, e), (s, _) in itertools.pairwise(part)}
    return len(part) == 1 or (separators in ({" "}, {"-"}) and (
        lengths in ([4, 6, 5], [4, 6, 4])
        or (all(n == 4 for n in lengths[:-1]) and 1 <= lengths[-1] <= 4)))


def _is_card(digits: str) -> bool:
    """A known IIN range for this length, and the Luhn check."""
    if not any(lo <= int(digits[:len(str(lo))]) <= hi and len(digits) in lengths
               for lo, hi, lengths in _IINS):
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (1 + index % 2)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _international(digits: str, *, code: str | None = None) -> bool:
    """``digits`` after ``+``/``00``: a known calling code and a plausible length for it;
    ``code``, when given, is the group written as the calling code and must be all of it."""
    if len(digits) < 8 or len(digits) > 15:
        return False
    size = 1 if digits[0] in "17" else 2 if digits[:2] in _TWO_DIGIT_CC else 3
    if code is not None and len(code) != size:
        return False
    code, national = digits[:size], digits[size:]
    if digits[0] == "0" or (size == 3 and digits[:2] in ("28", "80", "83", "89")):
        return False
    if national.startswith("0") and code != "39":
        national = national[1:]  # a trunk 0 written after the code ("+44 020 …")
    low, high = _NSN.get(code, (6, 12))
    if code == "1" and not _NANP_NUMBER.fullmatch(national):
        return False
    return low <= len(national) <= high


def _negative_context(text: str, start: int) -> bool:
    """Whether the nearest keyword in the 32 characters before a number names a reference
    (order, invoice, tracking…) rather than a phone."""
    found = list(_CONTEXT.finditer(text[max(0, start - 32):start].lower()))
    return bool(found) and found[-1][2] is not None


def _non_overlapping(spans: list[Span]) -> list[Span]:
    """Sorted by start; of two overlapping spans the longer (then the earlier) stays."""
    kept: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, s.start - s.end)):
        if kept and span.start < kept[-1].end:
            if span.end - span.start > kept[-1].end - kept[-1].start:
                kept[-1] = span
        else:
            kept.append(span)
    return kept


def _merged(spans: list[Span]) -> list[Span]:
    """Overlapping spans joined; the joined span takes the kind of its longest member."""
    out: list[tuple[int, int, Span]] = []
    for span in sorted(spans, key=lambda s: (s.start, s.start - s.end)):
        if out and span.start < out[-1][1]:
            start, end, longest = out[-1]
            if span.end - span.start > longest.end - longest.start:
                longest = span
            out[-1] = (start, max(end, span.end), longest)
        else:
            out.append((span.start, span.end, span))
    return [Span(start, end, longest.kind) for start, end, longest in out]
