"""Direct identifiers (DESIGN §2): find columns that name or hold people, so none passes ingest.

Detection works by column NAME (ssn, phone, e-mail, names, address, coordinates, licence and
passport numbers, medical record numbers, free-text notes) and by VALUE pattern on a sample of
non-null values. Mapped identifiers (listed in ``domain.direct_identifiers`` or mapped to ``"drop"``
by the user) are dropped and counted; any other suspicious column stops the run with
:class:`DirectIdentifierError`. Messages name columns and patterns only, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from personatwin.core import schema
from personatwin.core.domains import Domain
from personatwin.core.errors import DirectIdentifierError

SAMPLE_SIZE = 1000
MATCH_SHARE = 0.5  # share of sampled non-null values that must match a pattern
# Ambiguous patterns must also be person-specific (see _sample): names, bare 9/10-digit numbers.
NAME_CARDINALITY = 0.5
DIGITS_CARDINALITY = 0.8

# --- by name -------------------------------------------------------------------------------
# Whole tokens of the column name (split on non-alphanumerics and camelCase).
_NAME_TOKENS: dict[str, str] = {
    "ssn": "a social security number",
    "sin": "a social insurance number",
    "phone": "a phone number",
    "telephone": "a phone number",
    "tel": "a phone number",
    "mobile": "a phone number",
    "cellphone": "a phone number",
    "fax": "a fax number",
    "email": "an e-mail address",
    "name": "a person's name",
    "names": "a person's name",
    "firstname": "a person's name",
    "lastname": "a person's name",
    "fullname": "a person's name",
    "fname": "a person's name",
    "lname": "a person's name",
    "surname": "a person's name",
    "forename": "a person's name",
    "maiden": "a person's name",
    "address": "a street address",
    "addr": "a street address",
    "street": "a street address",
    "lat": "exact coordinates",
    "latitude": "exact coordinates",
    "lon": "exact coordinates",
    "lng": "exact coordinates",
    "longitude": "exact coordinates",
    "drivers": "a driver's licence number",
    "passport": "a passport number",
    "mrn": "a medical record number",
    "notes": "free text",
    "note": "free text",
    "comment": "free text",
    "comments": "free text",
    "narrative": "free text",
    "freetext": "free text",
    "remarks": "free text",
}
# Substrings of the joined lower-case name (tokens glued together).
_NAME_JOINED: dict[str, str] = {
    "socialsecurity": "a social security number",
    "phonenumber": "a phone number",
    "email": "an e-mail address",
    "firstname": "a person's name",
    "lastname": "a person's name",
    "fullname": "a person's name",
    "surname": "a person's name",
    "maidenname": "a person's name",
    "streetaddress": "a street address",
    "driverslicense": "a driver's licence number",
    "driverslicence": "a driver's licence number",
    "driverlicense": "a driver's licence number",
    "driverlicence": "a driver's licence number",
    "medicalrecordnumber": "a medical record number",
    "medicalrecordno": "a medical record number",
    "freetext": "free text",
}
_COORD_NAME_TOKENS = frozenset({
    "coord", "coords", "coordinate", "coordinates", "geo", "gps", "x", "y", "position", "pos",
    "point", "latlon", "latlong", "latlng", "lat", "lon", "lng", "latitude", "longitude", "geom",
    "geometry", "location", "loc",
})

# --- by value ------------------------------------------------------------------------------
# Each repeat starts with an apostrophe/hyphen or a capital, so a run of letters splits one way only
# (the earlier ``(?:['’-]?[A-Z]?[a-z]+)*`` backtracked exponentially: 30 letters took minutes).
_WORD = r"[A-Z][a-z]+(?:(?:['’\-][A-Z]?|[A-Z])[a-z]+)*\d*"
# Street suffixes (USPS names and abbreviations, plus those of synthetic generators like Synthea).
_STREET_SUFFIXES = (
    "alley|aly|annex|arcade|avenue|ave|av|bayou|beach|bend|bluff|bottom|boulevard|blvd|branch|bridge|brook|"
    "burg|burgs|bypass|camp|canyon|cape|causeway|center|centre|circle|cir|cliff|club|common|corner|course|"
    "court|ct|cove|creek|crescent|crest|crossing|crossroad|curve|dale|dam|divide|drive|dr|estate|estates|"
    "expressway|expy|extension|falls|ferry|field|fields|flat|flats|ford|forest|forge|fork|fort|freeway|fwy|"
    "garden|gardens|gateway|glen|green|grove|harbor|haven|heights|highway|hwy|hill|hills|hollow|inlet|island|"
    "isle|junction|key|knoll|knolls|lake|lakes|land|landing|lane|ln|light|lights|loaf|lock|locks|lodge|loop|"
    "mall|manor|meadow|meadows|mews|mill|mills|mission|motorway|mount|mountain|neck|orchard|oval|overpass|"
    "park|parkway|pkwy|pass|passage|path|pike|pine|pines|place|pl|plain|plains|plaza|point|points|port|ports|"
    "prairie|radial|ramp|ranch|rapid|rapids|rest|ridge|river|road|rd|route|row|rue|run|shoal|shore|shores|"
    "skyway|spring|springs|spur|square|sq|station|stravenue|stream|street|st|streets|summit|terrace|ter|"
    "throughway|trace|track|trafficway|trail|trl|tunnel|turnpike|underpass|union|valley|via|viaduct|view|"
    "views|village|ville|vista|walk|wall|way|well|wells|bay|quay|wynd|promenade|esplanade|highlands|highland|"
    "pathway|gate|trailer|approach|close|rise|parade|vale|hts|byway|walkway|boardwalk|cres|grn|grounds|heath|row|yard"
)
_STREET = (
    rf"\d{{1,6}}[A-Za-z]?\s+(?:[A-Za-z0-9'.\-]+\s+){{0,4}}(?i:{_STREET_SUFFIXES})\.?"
    r"(?:\s+(?i:apt|apartment|suite|ste|unit|fl|floor|rm|room|#)\.?\s*#?\s*[A-Za-z0-9\-]+)?(?:\s*,.*)?"
)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: str
    description: str
    strong: bool  # specific enough to test on canonical columns and without a cardinality guard
    min_cardinality: float = 0.0


_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern("ssn", r"\d{3}-\d{2}-\d{4}", "social security numbers (ddd-dd-dddd)", True),
    _Pattern("ssn", r"\d{9}", "social security numbers (9 digits)", False, DIGITS_CARDINALITY),
    _Pattern("email", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", "e-mail addresses", True),
    _Pattern(
        "phone",
        r"(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}|\+\d{1,3}(?:[\s.\-]?\d{2,4}){2,5}",
        "phone numbers",
        True,
    ),
    _Pattern("phone", r"\+?1?\d{10}", "phone numbers (10 digits)", False, DIGITS_CARDINALITY),
    _Pattern(
        "address",
        _STREET,
        "street addresses (house number, street name and suffix)",
        True,
    ),
    _Pattern(
        "coordinates",
        r"\(?\s*-?\d{1,3}\.\d{4,}\s*[,; ]\s*-?\d{1,3}\.\d{4,}\s*\)?",
        "coordinate pairs (decimal degrees)",
        True,
    ),
    _Pattern("person_name", rf"{_WORD}(?:\s+{_WORD}){{0,3}}", "person names (capitalized words)", False,
             NAME_CARDINALITY),
)
# Identifiers found INSIDE longer text (free text under an innocent column name): specific patterns
# only, written without \s or \d so pandas runs them on RE2 (linear time), on a bounded prefix.
_EMBEDDED: tuple[_Pattern, ...] = (
    _Pattern("email", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
             "free text containing e-mail addresses", True),
    _Pattern("ssn", r"(?:^|[^0-9\-])[0-9]{3}-[0-9]{2}-[0-9]{4}(?:$|[^0-9\-])",
             "free text containing social security numbers (ddd-dd-dddd)", True),
    _Pattern("phone", r"(?:^|[^0-9])(?:\([0-9]{3}\) ?|[0-9]{3}[.\-])[0-9]{3}[.\-][0-9]{4}(?:$|[^0-9])",
             "free text containing phone numbers", True),
)
_EMBEDDED_LITERAL = {"email": "@", "ssn": "-", "phone": ""}  # a literal every match holds (cheap pre-check)
MAX_VALUE_LEN = 256  # a longer value is not one identifier: whole-value patterns skip it
EMBEDDED_PREFIX = 4096  # characters of each sampled value searched for embedded identifiers
_COORD_SINGLE = r"-?\d{1,3}\.\d{4,}"
_NUMBER = re.compile(r"-?\d{1,3}\.\d+")


def looks_like_data(name: object) -> bool:
    """Whether a column NAME looks like a cell value (a file without its header row), so that a
    message must not repeat it: long, control characters, an '@', 5+ digits, or an identifier shape."""
    text = str(name)
    if len(text) > 64 or not text.isprintable() or "@" in text or sum(ch.isdigit() for ch in text) >= 5:
        return True
    return any(re.fullmatch(p.regex, text.strip()) for p in _PATTERNS if p.strong)


def column_label(name: object, position: int | None = None) -> str:
    """How messages name a column: ``'name'``, or its 1-based position when the name looks like data."""
    if not looks_like_data(name):
        return repr(str(name))
    where = f"#{position + 1}" if position is not None else "(position unknown)"
    return f"{where} (name withheld: it looks like a data value; is the header row missing?)"


def identifier_error(findings: Iterable[IdentifierFinding]) -> DirectIdentifierError:
    """The error that stops ingest: every suspicious column with its reason and how to map it (never a value)."""
    findings = tuple(findings)
    named = [f.column for f in findings if not looks_like_data(f.column)]
    lines = "\n".join(f"  - column {column_label(f.column, f.position)}: {f.reason}" for f in findings)
    mapping = ", ".join(f"{c!r}: 'drop'" for c in named)
    withheld = len(named) < len(findings)
    return DirectIdentifierError(findings, (
        "input columns look like direct identifiers, which must never pass ingest:\n"
        f"{lines}\n"
        + (f"If they are identifiers, drop them with column_mapping={{{mapping}}}; if a column is a "
           f"false positive, declare it safe with allow_columns={named!r}." if named else "")
        + (" A withheld column name looks like a data value: check that the file has a header row."
           if withheld else "")
    ))


@dataclass(frozen=True)
class IdentifierFinding:
    """One suspicious column: why it looks like a direct identifier (never which value)."""

    column: str
    reason: str
    kind: str = ""
    by: str = "name"  # "name" or "value"
    position: int | None = None  # 0-based position of the column in its table


def name_tokens(column: str) -> list[str]:
    """Lower-case tokens of a column name, split on non-alphanumerics and camelCase."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(column))
    return [t for t in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if t]


def normalized_name(column: str) -> str:
    """Column name as snake_case lower tokens, for matching declared names like ``first_name``."""
    return "_".join(name_tokens(column))


def _by_name(column: str) -> IdentifierFinding | None:
    tokens = name_tokens(column)
    for t in tokens:
        if t in _NAME_TOKENS:
            return IdentifierFinding(column, f"column name suggests {_NAME_TOKENS[t]}", t, "name")
    joined = "".join(tokens)
    for sub, what in _NAME_JOINED.items():
        if sub in joined:
            return IdentifierFinding(column, f"column name suggests {what}", sub, "name")
    if "social" in tokens and "security" in tokens:
        return IdentifierFinding(column, "column name suggests a social security number", "ssn", "name")
    if ("driver" in tokens or "drivers" in tokens) and ("license" in tokens or "licence" in tokens):
        return IdentifierFinding(column, "column name suggests a driver's licence number", "drivers", "name")
    return None


def _sample_positions(n: int, size: int) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, size).astype(np.int64))


def _sample(values: pd.Series, people: pd.Series | None, size: int) -> tuple[pd.Series, float]:
    """Evenly spaced non-null string values, and how person-specific they are.

    Specificity is distinct values / distinct (value, person) pairs in the sample (distinct values /
    rows without a person column): near 1 when each value belongs to one person (an SSN, a name),
    low for codes or places shared by many people.
    """
    if pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_bool_dtype(values):
        return pd.Series([], dtype="string"), 0.0
    idx = np.flatnonzero(values.notna().to_numpy())
    pos = idx[_sample_positions(len(idx), size)]  # convert the sample only, not the column
    txt = values.iloc[pos].astype("string").str.strip()
    nonblank = (txt != "").fillna(False).to_numpy()
    pos, sample = pos[nonblank], txt[nonblank].reset_index(drop=True)
    if sample.empty:
        return sample, 0.0
    if people is not None:
        pairs = pd.DataFrame({"v": sample, "p": people.iloc[pos].astype("string").to_numpy()})
        n_pairs = len(pairs.drop_duplicates())
    else:
        n_pairs = len(sample)
    return sample, sample.nunique() / max(n_pairs, 1)


def _coord_in_range(sample: pd.Series, matched: pd.Series) -> pd.Series:
    """Matches whose every number lies in [-180, 180]."""
    nums = sample[matched].str.findall(_NUMBER.pattern)
    ok = nums.map(lambda xs: all(abs(float(x)) <= 180 for x in xs), na_action="ignore")
    out = pd.Series(False, index=sample.index)
    out[matched] = ok.fillna(False).astype(bool)
    return out


def _by_value(column: str, values: pd.Series, people: pd.Series | None, strong_only: bool,
              sample_size: int) -> IdentifierFinding | None:
    sample, specificity = _sample(values, people, sample_size)
    if sample.empty:
        return None
    n = len(sample)
    length = sample.str.len()
    whole = sample.where((length <= MAX_VALUE_LEN).fillna(False), "")  # "" matches no pattern
    for pat in _PATTERNS:
        if strong_only and not pat.strong:
            continue
        matched = whole.str.fullmatch(pat.regex).fillna(False).astype(bool)
        if pat.kind == "coordinates":
            matched = _coord_in_range(sample, matched)
        share = float(matched.mean())
        if share >= MATCH_SHARE and specificity >= pat.min_cardinality:
            return IdentifierFinding(
                column, f"{share:.0%} of {n} sampled values look like {pat.description}", pat.kind, "value"
            )
    if not strong_only:  # identifiers inside free text (a non-canonical column: dropped if allowed)
        prefix = sample.str.slice(0, EMBEDDED_PREFIX)
        for pat in _EMBEDDED:
            literal = _EMBEDDED_LITERAL[pat.kind]
            if literal and float(prefix.str.contains(literal, regex=False).fillna(False).mean()) < MATCH_SHARE:
                continue
            share = float(prefix.str.contains(pat.regex, regex=True).fillna(False).astype(bool).mean())
            if share >= MATCH_SHARE:
                return IdentifierFinding(column, f"{share:.0%} of {n} sampled values are {pat.description}",
                                         pat.kind, "value")
    if set(name_tokens(column)) & _COORD_NAME_TOKENS:
        matched = _coord_in_range(whole, whole.str.fullmatch(_COORD_SINGLE).fillna(False).astype(bool))
        share = float(matched.mean())
        if share >= MATCH_SHARE:
            return IdentifierFinding(
                column,
                f"{share:.0%} of {n} sampled values look like exact coordinates (decimal degrees, "
                "4+ decimals) in a coordinate-like column",
                "coordinates",
                "value",
            )
    return None


def canonical_columns(domain: Domain) -> frozenset[str]:
    """Column names of the data contract plus the domain's QIs and sensitive attributes."""
    return frozenset(
        (schema.PERSON_ID, schema.BIRTH_DATE, schema.AGE, *schema.EVENT_COLUMNS, *domain.qis, *domain.sensitive)
    )


def is_declared_identifier(column: str, domain: Domain) -> bool:
    """Whether the domain lists this column (by normalized name) as a direct identifier."""
    declared = {normalized_name(c) for c in domain.direct_identifiers}
    return normalized_name(column) in declared


def mapped_identifier_columns(df: pd.DataFrame, domain: Domain, mapping_declared: Collection[str] = ()) -> list[str]:
    """Columns to drop silently: listed by the domain as direct identifiers or mapped to ``drop``."""
    declared = set(mapping_declared)
    return [c for c in df.columns if c in declared or is_declared_identifier(str(c), domain)]


def find_identifier_columns(
    df: pd.DataFrame,
    domain: Domain,
    mapping_declared: Collection[str] = (),
    *,
    allow: Collection[str] = (),
    sample_size: int = SAMPLE_SIZE,
) -> list[IdentifierFinding]:
    """Unmapped columns that look like direct identifiers by name or by a sample of their values.

    Columns already mapped (domain identifiers, user ``drop``) and ``allow``-ed ones are skipped.
    Canonical columns (contract, QIs) are tested by value with the specific patterns only (dashed
    SSN, e-mail, formatted phone, street address, coordinates), since their names are declared.
    """
    skip = set(mapping_declared) | set(allow) | set(mapped_identifier_columns(df, domain, mapping_declared))
    canonical = canonical_columns(domain)
    people = df[schema.PERSON_ID] if schema.PERSON_ID in df.columns else None
    findings: list[IdentifierFinding] = []
    for position, col in enumerate(df.columns):
        if col in skip:
            continue
        is_canonical = col in canonical
        finding = None if is_canonical else _by_name(str(col))
        if finding is None:
            finding = _by_value(str(col), df[col], people if col != schema.PERSON_ID else None,
                                strong_only=is_canonical, sample_size=sample_size)
        if finding is not None:
            findings.append(replace(finding, position=position))
    return findings


def drop_identifiers(
    df: pd.DataFrame,
    domain: Domain,
    mapping_declared: Collection[str] = (),
    *,
    allow: Collection[str] = (),
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Drop mapped identifier columns (returned by name) or raise if any unmapped one is found."""
    findings = find_identifier_columns(df, domain, mapping_declared, allow=allow)
    if findings:
        raise identifier_error(findings)
    dropped = tuple(str(c) for c in mapped_identifier_columns(df, domain, mapping_declared))
    return df.drop(columns=list(dropped)), dropped
