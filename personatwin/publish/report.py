"""The HTML privacy reports of a release: one self-contained file each, no scripts, no network.

Two reports (issue 11: published = protected). ``render_report`` is the **published** report that
ships in the release folder: it is computed from the published files alone (``PublishedRelease``:
released tables, policy, PRAM parameters, risk figures), so it holds no original-data figure, and
its group rates hide cells of fewer than ``small_cell_people`` people with complementary cells.
``render_internal_report`` is the data steward's **internal** report (original vs release: original
rates, differences, information loss, input reconciliation), written outside the release folder,
with the same small-cell rule on its original-data cells.

Inline CSS and SVG only (charts from ``personatwin.publish.charts``), a Content-Security-Policy that forbids
every fetch, readable with JavaScript off and printed (``@media print``). Sections have stable ids:
``verdict``, ``metrics``, ``loop``, ``tradeoff``, ``group-rates``, ``event-counts``, ``persona-sizes``,
``parameters``, ``unbias``. The output depends on the release tables only (no clock, no paths), so
rerunning a partition with the same key gives a byte-identical report.

Only aggregates are shown: metrics, the loop's iterations, rates and counts per group, type and
period, the distribution of persona sizes, PRAM parameters. No person id, persona id or event date.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from personatwin.core.policy import INTERNAL_RISK, PUBLIC_RISK, RESEARCH_RISK
from personatwin.core.version import __version__
from personatwin.measure.analyses import MIN_EVENTS, MIN_OUTCOMES
from personatwin.measure.anonymeter_eval import POOLED, counts_against, summary_from_table
from personatwin.measure.criteria import BAND_TEXT as VERDICT_TEXT
from personatwin.measure.criteria import NOT_SAFE, VERDICT_TARGETS, fmt, judge
from personatwin.measure.criteria import RISK_BANDS as BANDS
from personatwin.measure.criteria import number as _f
from personatwin.measure.glossary import ATTACK_MEANINGS, METRIC_MEANINGS, PARAMETER_MEANINGS, UTILITY_MEANINGS
from personatwin.protect.noise import period_label
from personatwin.publish import charts
from personatwin.publish.cells import SMALL_CELL_PEOPLE, hidden_rows
from personatwin.publish.charts import Point, RefLine, Series
from personatwin.publish.published import PublishedRelease
from personatwin.publish.published import codes_and_labels as type_codes
from personatwin.release.release import Release
from personatwin.release.tables import ReleaseTables

SECTION_IDS = ("verdict", "metrics", "attacks", "loop", "group-rates", "research", "event-counts", "persona-sizes",
               "parameters", "unbias")  # the published report
INTERNAL_SECTION_IDS = ("verdict", "metrics", "attacks", "loop", "tradeoff", "group-rates", "research", "event-counts",
                        "persona-sizes", "parameters", "unbias")
CHART_ROWS = 40  # group-rate chart rows per attribute (the table below it has them all)

CSS = ("""
:root{color-scheme:light}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d232a;line-height:1.45}
h1{margin:0 0 .2rem;font-size:1.7rem} h2{margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:2px solid #e3e7ec;font-size:1.3rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
.sub{color:#5b6570;margin:0 0 1rem}
nav.toc{font-size:.9rem;margin:1rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
nav.toc a{color:#0b5cad}
.verdict{padding:1rem 1.2rem;border-radius:.5rem;margin:1rem 0;border:2px solid}
.verdict .code{font-size:1.35rem;font-weight:700;display:block}
.verdict ul{margin:.5rem 0 0;padding-left:1.2rem}
.v-public{background:#e3f4e8;border-color:#2e7d4f} .v-research{background:#e8f1fb;border-color:#0b5cad}
.v-internal{background:#fff4dc;border-color:#a86b00} .v-no{background:#fde8e8;border-color:#b3261e}
table{border-collapse:collapse;margin:.5rem 0 1.2rem;font-size:.85rem}
td,th{border:1px solid #ccd3db;padding:.22rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.pass{color:#1e6b3d;font-weight:600} td.fail{color:#b3261e;font-weight:700} td.na{color:#5b6570}
.formula{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f5f8;padding:.5rem .8rem;border-radius:.3rem;display:inline-block}
pre{background:#f3f5f8;padding:.7rem .9rem;border-radius:.3rem;overflow-x:auto;font-size:.82rem}
.note{color:#5b6570;font-size:.88rem}
.scroll{overflow-x:auto;max-width:100%}
details{margin:.4rem 0 1rem} summary{cursor:pointer;color:#0b5cad}
footer{margin-top:3rem;color:#5b6570;font-size:.8rem}
"""  # noqa: E501 (CSS rules, one line each as written into the report)
       + charts.CHART_CSS + """
@media print{
 body{margin:0;max-width:none;padding:0;font-size:10.5pt}
 nav.toc,summary{display:none}
 h2{break-after:avoid;page-break-after:avoid;border-top:1px solid #999}
 h3{break-after:avoid;page-break-after:avoid}
 table,figure,.verdict,.formula{break-inside:avoid;page-break-inside:avoid}
 table.long{break-inside:auto;page-break-inside:auto} tr{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 .scroll{overflow:visible} table{font-size:8.5pt}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 a{color:inherit;text-decoration:none}
}
""")
# Nothing may be fetched: no script, image, font, frame or connection; inline styles only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def esc(v) -> str:
    return html.escape(str(v), quote=True)


def pct(v, digits: int = 1) -> str:
    x = _f(v)
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


# --- verdict ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """Who may receive the release, and why: the thresholds it meets and the binding metric."""

    code: str  # SAFE_FOR_PUBLIC_RELEASE | SAFE_FOR_RESEARCH | INTERNAL_USE_ONLY | NOT_SAFE_FOR_RELEASE
    release_risk: float
    binding_metric: str
    reasons: tuple[str, ...] = field(default=())
    problems: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return VERDICT_TEXT[self.code]

    @property
    def css(self) -> str:
        return {"SAFE_FOR_PUBLIC_RELEASE": "v-public", "SAFE_FOR_RESEARCH": "v-research",
                "INTERNAL_USE_ONLY": "v-internal"}.get(self.code, "v-no")

    def markdown(self, partition: str = "") -> str:
        """The verdict as Markdown (Dagster metadata)."""
        head = f"**{self.code}**" + (f" ({partition})" if partition else "") + f": {self.label}."
        lines = [head, ""] + [f"- {r}" for r in self.problems + self.reasons]
        return "\n".join(lines)


def verdict(metrics: Mapping, policy: Mapping) -> Verdict:
    """The release's verdict from its metrics and released policy (as in a manifest).

    The band follows the release risk (public <= 0.01, research <= 0.05, internal <= 0.15); any
    missed target (k, policy risk target, l-diversity, event conservation, utility gates) makes it
    not safe, whatever the band."""
    m = {k: _f(v) for k, v in metrics.items()}
    risk = m.get("release_risk")
    pop, link = m.get("population_average_risk"), m.get("external_linkage_risk")
    if risk is None:
        return Verdict(NOT_SAFE, float("nan"), "release_risk", problems=("no release risk was computed",))
    binding = "external_linkage_risk" if (link or 0.0) > (pop or 0.0) else "population_average_risk"
    other = "population_average_risk" if binding == "external_linkage_risk" else "external_linkage_risk"
    m_know = int(m.get("attacker_knowledge") or policy.get("attacker_knowledge") or 0)
    reasons = [f"Release risk {risk:.4f} is the {binding.replace('_', ' ')} (the binding metric); "
               f"the {other.replace('_', ' ')} is {fmt(m.get(other))}"
               + (f" (attacker knows the QIs and {m_know} events)." if m_know else ".")]
    met = [f"{name} (<= {limit})" for limit, _, name in BANDS if risk <= limit]
    missed = [f"{name} (<= {limit}, above by {risk - limit:.4f})" for limit, _, name in BANDS if risk > limit]
    if met:
        reasons.append("Meets the threshold for " + ", ".join(met) + "." + (
            " Misses " + ", ".join(missed) + "." if missed else ""))
    problems: list[str] = []
    for outcome in judge(m, policy, VERDICT_TARGETS):  # every target states itself (measure.criteria)
        (reasons if outcome.passed else problems).append(outcome.verdict)
    code = next((c for limit, c, _ in BANDS if risk <= limit), NOT_SAFE)
    if code == NOT_SAFE:
        problems.insert(0, f"Release risk {risk:.4f} is above the internal-use threshold {INTERNAL_RISK}.")
    if problems:
        code = NOT_SAFE
    return Verdict(code, risk, binding, tuple(reasons), tuple(problems))


# --- tables -------------------------------------------------------------------------------------

def _cell(v, kind: str = "") -> str:
    import numbers

    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return '<td class="na">n/a</td>'
    if isinstance(v, (bool, np.bool_)):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, numbers.Number):
        x = _f(v)  # float(v) when finite
        if x is None:
            return '<td class="na">n/a</td>'
        if kind == "pct":
            return f'<td class="num">{pct(v, 2)}</td>'
        if kind == "ratio":
            return f'<td class="num">{x:.3f}</td>'
        return f'<td class="num">{fmt(v, 2 if kind == "pp" else 4)}</td>'
    if isinstance(v, str) and (v == "suppressed" or v.startswith("< ")):
        return f'<td class="num na">{esc(v)}</td>'
    return f"<td>{esc(v)}</td>"


def _table(df: pd.DataFrame, kinds: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None,
           cls: str = "") -> str:
    kinds, headers = kinds or {}, headers or {}
    head = "".join(f'<th scope="col">{esc(headers.get(c, c))}</th>' for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        rows.append("<tr>" + "".join(_cell(v, kinds.get(c, "")) for c, v in zip(df.columns, rec)) + "</tr>")
    attr = f' class="{cls}"' if cls else ""
    return (f"<div class='scroll'><table{attr}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _section(sid: str, title: str, *parts: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>' + "".join(parts) + "</section>"


# --- sections -----------------------------------------------------------------------------------

def _verdict_section(v: Verdict) -> str:
    items = "".join(f"<li><strong>Problem:</strong> {esc(p)}</li>" for p in v.problems)
    items += "".join(f"<li>{esc(r)}</li>" for r in v.reasons)
    nxt = ""
    if v.code in ("SAFE_FOR_RESEARCH", "INTERNAL_USE_ONLY"):
        limit, _, name = next(b for b in reversed(BANDS) if v.release_risk > b[0])
        nxt = (f"<p class='note'>For {esc(name)} the release risk must be at most {limit}: raise the privacy "
               "level or the target (larger k, coarser dates, ages or locations).</p>")
    return _section("verdict", "Verdict",
                    f"<div class='verdict {v.css}' role='status'><span class='code'>{esc(v.code)}</span>"
                    f"<span>{esc(v.label)}.</span><ul>{items}</ul></div>", nxt,
                    "<p class='note'>Reference thresholds for the release risk: public release &le; "
                    f"{PUBLIC_RISK}, research &le; {RESEARCH_RISK}, internal use &le; {INTERNAL_RISK}. The release "
                    "risk is the larger of the population average risk and the simulated external linkage risk.</p>")


def _metrics_section(m: Mapping, policy: Mapping) -> str:
    target, k, l_req = policy["target_risk"], policy["k"], policy.get("l_diversity")
    # (comparison, limit) per metric that has a threshold
    limits = {"k_anonymity": (">=", float(k)), "prosecutor_risk_max": ("<=", 1.0 / float(k)),
              "population_average_risk": ("<=", float(target)), "external_linkage_risk": ("<=", float(target)),
              "release_risk": ("<=", float(target))}
    if l_req is not None:
        limits["l_diversity_distinct"] = (">=", float(l_req))
    if _f(policy.get("target_risk")) is not None:
        limits["series_risk"] = ("<=", float(policy["target_risk"]))
    for metric, limit_field in (("t_closeness", "max_t_closeness"), ("persona_single_out_rate", "max_single_out_rate"),
                                ("series_single_out_rate", "max_series_single_out_rate")):
        if _f(policy.get(limit_field)) is not None:
            limits[metric] = ("<=", float(policy[limit_field]))
    rows = []
    for name, meaning in METRIC_MEANINGS.items():
        value = _f(m.get(name))
        shown = fmt(value, 0 if name == "k_anonymity" else 4)
        if name == "external_linkage_risk" and value is not None and _f(m.get("external_linkage_ci_low")) is not None:
            shown += f" (95% CI {fmt(m['external_linkage_ci_low'])} to {fmt(m['external_linkage_ci_high'])})"
        if name == "records_at_risk" and _f(m.get("records_at_risk_threshold")) is not None:
            meaning = f"{meaning} (t = {fmt(m['records_at_risk_threshold'], 2)})"
        if name in ("journalist_risk", "marketer_risk") and value is None:
            shown = "n/a (no population size given)"
        if name.startswith("series_") and value is None:
            shown = "n/a (not released in a series)"
        if name in limits:
            op, lim = limits[name]
            thr = f"{op} {fmt(lim)}"
            if value is None:
                status = '<td class="na">n/a</td>'
            else:
                ok = value >= lim if op == ">=" else value <= lim + 1e-12
                status = f'<td class="{"pass" if ok else "fail"}">{"pass" if ok else "FAIL"}</td>'
        else:
            thr, status = "none (reported)", '<td class="na">reported</td>'
        rows.append(f"<tr><th scope='row'>{esc(name)}</th><td class='num'>{esc(shown)}</td><td>{esc(thr)}</td>"
                    f"{status}<td>{esc(meaning)}</td></tr>")
    risk_table = ("<table><thead><tr><th>metric</th><th>value</th><th>threshold</th><th>status</th><th>meaning</th>"
                  "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    urows = []
    for name in [c for c in m if str(c).startswith("tvd_") and c != "tvd_outcome"]:
        urows.append((name, m[name], f"total variation distance of the {name[4:]} marginal, original vs published"))
    for name, meaning in UTILITY_MEANINGS.items():
        if name in m:
            urows.append((name, m[name], meaning))
    util = "".join(f"<tr><th scope='row'>{esc(n)}</th><td class='num'>{fmt(v, 4)}</td><td>{esc(meaning)}</td></tr>"
                   for n, v, meaning in urows)
    util_part = ("<h3>Utility</h3><table><thead><tr><th>measure</th><th>value</th><th>meaning</th></tr></thead>"
                 f"<tbody>{util}</tbody></table>") if urows else ""
    counts = (f"<p>{fmt(m.get('n_people'))} people in {fmt(m.get('n_personas'))} personas and "
              f"{fmt(m.get('n_equivalence_classes'))} equivalence classes (sets of people whose personas publish "
              f"identical QIs); {fmt(m.get('n_events'))} events; the linkage attack was simulated on "
              f"{fmt(m.get('linkage_targets'))} targets.</p>")
    return _section("metrics", "Risk metrics", counts, risk_table, _diversity_table(m, policy), util_part)


def _diversity_table(m: Mapping, policy: Mapping) -> str:
    """l and t per sensitive attribute (true values), and the share of homogeneous personas where shown
    (the internal report: a count that moves by one persona between versions is not published)."""
    names = sorted(k.split(".", 1)[1] for k in m if str(k).startswith("t_closeness."))
    if not names:
        return ""
    t_max = _f(policy.get("max_t_closeness"))
    by_attribute = dict(policy.get("max_t_closeness_by_attribute") or {})
    homogeneous = any(str(k).startswith("homogeneous_personas.") for k in m)
    rows = []
    for a in names:
        t = _f(m.get(f"t_closeness.{a}"))
        limit = _f(by_attribute.get(a, t_max))
        ok = t is not None and limit is not None and t <= limit + 1e-12
        status = ('<td class="na">reported</td>' if t is None or limit is None else
                  f'<td class="{"pass" if ok else "fail"}">{"pass" if ok else "FAIL"} (&le; {fmt(limit, 2)})</td>')
        ordered = bool(_f(m.get(f"sensitive_ordered.{a}")))
        l_shown = (f"{fmt(m.get(f'l_diversity_entropy.{a}'), 2)} (entropy)" if ordered
                   else fmt(m.get(f'l_diversity_distinct.{a}'), 0))
        model = "ordered ranges: t = EMD over the ordered ranges" if ordered else "categories: distinct l, t"
        c_raw = m.get(f"c_recursive.{a}")
        c = _f(c_raw)
        c_shown = fmt(c, 2) if c is not None else ("inf" if c_raw == float("inf") else "n/a")
        rows.append(f"<tr><th scope='row'>{esc(a)}</th><td>{esc(model)}</td><td class='num'>{l_shown}"
                    f"</td><td class='num'>{c_shown}</td><td class='num'>{fmt(t, 3)}</td>{status}"
                    f"{_diversity_limits(m, policy, a, ordered)}"
                    + (f"<td class='num'>{pct(m.get(f'homogeneous_personas.{a}'))}</td>" if homogeneous else "")
                    + "</tr>")
    return ("<h3>Diversity per sensitive attribute</h3><p class='note'>On true values: each event type's outcomes "
            "over the personas holding at least k events of the type, and each person-level sensitive attribute. "
            "l is the fewest distinct values in one such persona, t the largest distance of its mix from the "
            f"overall mix (limit {fmt(t_max, 2) if t_max is not None else 'none'}); a persona with fewer than k "
            "events of a type is protected for it by PRAM alone."
            + (" Homogeneous personas: share of the personas holding any such value whose values all agree."
               if homogeneous else "")
            + " Numeric attributes are released as ordered ranges and judged by t with the ordered distance (EMD), "
            "their l shown as entropy l: distinct l cannot hold for a count most people share one value of."
            + " Recursive c: the smallest c for which every such persona is recursive (c, l)-diverse at the "
            "attribute's l (its own where the policy sets one, else the policy's, at least 2; its most frequent value "
            "below c times the values from the l-th on; inf, or n/a in the published report, where a persona holds "
            "fewer than l values). l, entropy l and c status: distinct l of a categorical attribute against its l, "
            "entropy l and recursive c against the limits the policy sets for the attribute."
            + "</p><table><thead><tr><th>attribute</th><th>model</th><th>l</th><th>recursive c</th><th>t</th>"
            "<th>t status</th><th>l, entropy l and c status</th>"
            + ("<th>homogeneous personas</th>" if homogeneous else "") + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _diversity_limits(m: Mapping, policy: Mapping, a: str, ordered: bool) -> str:
    """The l, entropy l and recursive c limits of one attribute with their status, as a table cell."""
    l_req = _f(dict(policy.get("l_diversity_by_attribute") or {}).get(a, policy.get("l_diversity")))
    checks = []
    if not ordered and l_req is not None and l_req > 1:
        checks.append(("l", m.get(f"l_diversity_distinct.{a}"), ">=", l_req))
    for name, field_, op in (("entropy l", "min_entropy_l_by_attribute", ">="),
                             ("c", "max_recursive_c_by_attribute", "<=")):
        lim = _f(dict(policy.get(field_) or {}).get(a))
        if lim is not None:
            checks.append((name, m.get(f"{'l_diversity_entropy' if name != 'c' else 'c_recursive'}.{a}"), op, lim))
    if not checks:
        return '<td class="na">reported</td>'
    parts, failed = [], False
    for name, raw, op, lim in checks:
        v = math.inf if raw == math.inf else _f(raw)  # inf: a persona holds fewer than l values
        ok = None if v is None else (v >= lim - 1e-9 if op == ">=" else v <= lim + 1e-9)
        failed |= ok is False
        parts.append(f"{name} {'&ge;' if op == '>=' else '&le;'} {fmt(lim, 2)}: "
                     + ("n/a" if ok is None else "pass" if ok else "FAIL"))
    return f'<td class="{"fail" if failed else "pass"}">{"; ".join(parts)}</td>'


def _attacks_section(s: Mapping | None) -> str:
    """Anonymeter's singling-out, linkability and inference risks with their confidence intervals, from the
    manifest's ``anonymeter`` section (``summary_from_table``)."""
    title = "Independent attack evaluation (Anonymeter)"
    if not s:
        return _section("attacks", title,
                        "<p>Not evaluated for this release. The pipeline runs it for policies with an "
                        "Anonymeter limit (privacy levels high and maximum); in Python pass "
                        "<code>anonymeter=True</code> to <code>create_safe_personas</code>.</p>")
    limit = s["max_risk"]
    table = pd.DataFrame(s["evaluators"]).assign(max_risk=np.nan if limit is None else limit)
    rows = []
    for attack in ("singling_out", "linkability", "inference"):
        h = s["risks"].get(attack)
        if h is None:
            continue
        if limit is None:
            status = '<td class="na">reported</td>'
        else:
            status = f'<td class="{"pass" if h["passed"] else "fail"}">{"pass" if h["passed"] else "FAIL"}</td>'
        rows.append(f"<tr><th scope='row'>{esc(attack.replace('_', ' '))}</th><td class='num'>{fmt(h['risk'])}</td>"
                    f"<td class='num'>{fmt(h['ci_low'])} to {fmt(h['ci_high'])}</td>"
                    f"<td>{'none (reported)' if limit is None else esc(f'<= {limit}')}</td>{status}"
                    f"<td>{esc(h['variant'])}</td><td>{esc(ATTACK_MEANINGS[attack])}</td></tr>")
    head = ("<table><thead><tr><th>attack</th><th>risk</th><th>95% confidence interval</th><th>limit</th>"
            "<th>status</th><th>measured on</th><th>meaning</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")
    cols = s["columns"]
    secrets = cols.get("secrets", [])
    n_secrets = sum(1 for e in s["evaluators"] if e["attack"] == "inference" and e["variant"] != POOLED)
    intro = (f"<p>An independent check with <strong>Anonymeter</strong> {esc(s['versions'].get('anonymeter', ''))} "
             "(Giomi et al., PETS 2023), separate from the linkage attack above. "
             f"{fmt(s['control_people'])} of the {fmt(s['people'])} people were held out "
             "(chosen with the release key; by default the "
             "larger of 20% and half of the people up to 2,000, at most 5,000; this changes nothing in the published "
             f"release); a release of the other {fmt(s['train_people'])} was made at the released policy, "
             "flattened to one row per person (each member gets the persona's published attributes) and attacked. A "
             "risk is the attack's success on people in that release in excess of the same attack on the held-out "
             "people, as a share of what was left to gain: 0 means the release tells an attacker nothing more about "
             "its members than about anyone else, 1 means every attack succeeds because of the release.</p>"
             "<ul><li><strong>Singling out</strong>: predicates built from the release (e.g. age band, location and "
             "event counts) that match exactly one person; the larger of the univariate and multivariate risks is "
             "shown.</li>"
             "<li><strong>Linkability</strong>: an attacker holding the demographics ("
             + esc(", ".join(cols.get("demographics", []))) + ") in one source and the event history in another "
             "joins the two records of one person through their nearest release rows.</li>"
             "<li><strong>Inference</strong>: knowing demographics and event history, the attacker guesses each "
             f"secret ({esc(', '.join(secrets))}: the person's most frequent outcome per event type) from the "
             "nearest release row, for every member and every held-out person. The risk shown pools the "
             f"{n_secrets} secrets (one guess per person and secret, Anonymeter's formula on the summed counts); "
             "each secret's own risk is in the table below. One secret's estimate rests on one guess per person, "
             "so its interval is wider, and the largest of several such estimates is above the true risk more "
             "often than not.</li></ul>")
    gate = ("<p class='note'>The release is refused when a risk in this table is above the limit, or when one "
            "secret's inference risk is above the limit even at the lower bound of its 95% interval; before refusing, "
            "k is doubled and the privacy loop rerun, up to 3 times (\"raise k (Anonymeter)\" in the loop table). "
            + ("This release meets it." if s["passed"] else "This release does not meet it.") + "</p>") \
        if limit is not None else ("<p class='note'>This policy sets no Anonymeter limit: the figures are reported, "
                                   "not gated.</p>")
    detail = table.assign(rate_attack=table["attack_rate"], rate_baseline=table["baseline_rate"],
                          rate_control=table["control_rate"])
    detail = detail[["attack", "variant", "risk", "ci_low", "ci_high", "rate_attack", "rate_control", "rate_baseline",
                     "n_attacks"]]
    detail = detail.assign(headline=table["headline"].astype(bool).to_numpy(), counts_against=counts_against(table))
    detail = detail.astype({"n_attacks": "int64"})
    return _section("attacks", title, intro, head, gate,
                    "<details><summary>Every evaluator (attack success on the release's people, on the held-out "
                    "people, and a random-guess baseline; inference per secret and pooled)</summary>"
                    + _table(detail, kinds={"rate_attack": "pct", "rate_control": "pct", "rate_baseline": "pct"},
                             headers={"rate_attack": "success on members", "rate_control": "success on held-out",
                                      "rate_baseline": "random baseline", "n_attacks": "attacks on members",
                                      "ci_low": "CI low", "ci_high": "CI high", "headline": "shown above",
                                      "counts_against": "counts against"})
                    + "<p class='note'>A figure shown above counts against the release when it is above the limit; "
                      "any other when even its CI low is above the limit.</p></details>")


HISTORY_SHOWN = ["iteration", "step", "k", "date_precision", "location_level", "qi_levels", "pram_p",
                 "attacker_knowledge", "k_anonymity", "population_average_risk", "external_linkage_risk",
                 "release_risk", "l_diversity", "information_loss", "max_rate_diff_pp", "meets_targets", "released"]


def _loop_section(hist: pd.DataFrame, policy: Mapping) -> str:
    if hist.empty:
        return _section("loop", "Privacy loop", "<p>No iteration was recorded.</p>")
    labels = [str(int(i)) for i in hist["iteration"]]
    risk = Series("release risk", hist["release_risk"].tolist())
    if "information_loss" in hist.columns:
        loss = Series("information loss (%)", hist["information_loss"].tolist(), axis="right")
        chart = charts.line_chart(
            "chart-loop", f"Release risk (left axis) and information loss, the utility cost (right axis), for each "
            f"of the {len(hist)} iteration(s) of the privacy loop; the dashed line is the target risk "
            f"{policy['target_risk']}.",
            labels, [risk, loss], x_label="iteration", y_label="release risk", y2_label="information loss (%)",
            ref_lines=[RefLine(float(policy["target_risk"]), f"target {policy['target_risk']}")],
            title="Privacy loop: risk and utility per iteration")
    else:
        chart = charts.line_chart(
            "chart-loop", f"Release risk for each of the {len(hist)} iteration(s) of the privacy loop; the dashed "
            f"line is the target risk {policy['target_risk']}.",
            labels, [risk], x_label="iteration", y_label="release risk",
            ref_lines=[RefLine(float(policy["target_risk"]), f"target {policy['target_risk']}")],
            title="Privacy loop: risk per iteration")
    steps = " &rarr; ".join(f"{esc(r.iteration)}. {esc(r.step)}" for r in hist.itertuples(index=False))
    cols = [c for c in HISTORY_SHOWN if c in hist.columns]
    return _section("loop", "Privacy loop",
                    "<p>The loop starts from the requested policy and takes the cheapest escalation step that acts "
                    "on a missed target until every target holds; then it searches finer configurations (and, when a "
                    "utility gate fails, neighbouring ones) and releases, of the configurations meeting every target "
                    "and utility gate, the one losing the least information. Steps: "
                    f"{steps}.</p>", chart, _table(hist[cols]))


def _tradeoff_section(hist: pd.DataFrame, policy: Mapping) -> str:
    if hist.empty:
        return _section("tradeoff", "Privacy-utility trade-off", "<p>No iteration was recorded.</p>")
    released = len(hist) - 1
    if "released" in hist and hist["released"].astype(bool).any():
        released = int(np.flatnonzero(hist["released"].astype(bool).to_numpy())[0])
    elif "meets_targets" in hist:
        ok = [i for i, v in enumerate(hist["meets_targets"].tolist()) if bool(v)]
        released = ok[0] if ok else released
    points = [Point(r.information_loss, r.release_risk, f"#{int(r.iteration)} {r.step}", i == released)
              for i, r in enumerate(hist.itertuples(index=False))]
    top = max(float(hist["release_risk"].max()), float(policy["target_risk"]))
    refs = [RefLine(float(policy["target_risk"]), f"target {policy['target_risk']}")]
    short = {"SAFE_FOR_PUBLIC_RELEASE": "public", "SAFE_FOR_RESEARCH": "research", "INTERNAL_USE_ONLY": "internal"}
    refs += [RefLine(limit, f"{short[code]} {limit}") for limit, code, _ in BANDS
             if limit != float(policy["target_risk"]) and limit <= 1.5 * top]
    chart = charts.scatter_chart(
        "chart-tradeoff", "Each point is one configuration the privacy loop tried: information loss (utility cost, "
        "x) against release risk (y). Lower and further left is better; the larger point is the configuration "
        "released. Dashed lines are the target and the reference thresholds.",
        points, x_label="information loss (%)", y_label="release risk", ref_lines=refs,
        title="Privacy-utility trade-off")
    return _section("tradeoff", "Privacy-utility trade-off", chart)


GATE_TEXT = {"pp": "pp limit", "se": "3 SE", "none": "not gated"}


def _suppress(df: pd.DataFrame, hidden, columns: tuple[str, ...]) -> pd.DataFrame:
    """Figures of hidden cells (small in people, or their complements) replaced by text."""
    out = df.copy()
    mask = np.asarray(hidden, dtype=bool)
    for col in columns:
        if col in out.columns:
            vals = out[col].astype(object)
            vals[mask] = "suppressed"
            out[col] = vals
    return out


def _group_rates_section(release: ReleaseTables, policy: Mapping) -> str:
    rates, disp = release.group_rates, release.disparity
    if rates.empty:
        return _section("group-rates", "Outcome rates per group",
                        "<p>No demographic group attributes in this release.</p>")
    limit = int(policy.get("small_cell_people") or SMALL_CELL_PEOPLE)
    adverse = release.adverse_outcomes
    r = rates.assign(event_type=rates["event_type"].astype(str), outcome=rates["outcome"].astype(str),
                     attribute=rates["attribute"].astype(str), group=rates["group"].astype(str),
                     gate=rates["gate"].astype(str))
    r["hidden"] = hidden_rows(r, "people_original" if "people_original" in r.columns else "n_original", limit)
    if adverse:
        sel = r[[o in adverse.get(t, ()) for t, o in zip(r["event_type"], r["outcome"])]]
        what = "adverse outcome rate (" + "; ".join(f"{t}: {', '.join(o)}" for t, o in sorted(adverse.items())) + ")"
    else:  # no adverse outcomes known: the most common outcome of each event type
        pram = release.pram
        top = pram.sort_values(["event_type", "probability", "outcome"], ascending=[True, False, True]) \
            .groupby("event_type").head(1)
        pairs = set(zip(top["event_type"].astype(str), top["outcome"].astype(str)))
        sel = r[[(t, o) in pairs for t, o in zip(r["event_type"], r["outcome"])]]
        what = "rate of the most common outcome per event type"
    keys = ["attribute", "group", "event_type"]
    agg = sel.groupby(keys, sort=True).agg(n_original=("n_original", "first"), n_released=("n_released", "first"),
                                           original_rate=("original_rate", "sum"),
                                           released_rate=("unbiased_rate", "sum"),
                                           gate=("gate", "first"), hidden=("hidden", "first")).reset_index()
    agg["diff_pp"] = 100.0 * (agg["released_rate"] - agg["original_rate"])
    if not disp.empty:
        d = disp.assign(**{c: disp[c].astype(str) for c in ("attribute", "group", "event_type", "reference")})
        agg = agg.merge(d[["attribute", "group", "event_type", "reference", "original_ratio", "released_ratio"]],
                        on=keys, how="left")
    parts = [f"<p>For each demographic group and event type: the {esc(what)} in the original data and in the "
             "release after PRAM unbiasing (the released outcome is randomized; see <a href='#unbias'>how to "
             "unbias</a>). Disparity ratios divide a group's rate by the rate of the largest group of the same "
             "attribute (the reference): a bias analysis of the release should reach the conclusions the "
             "original supports. The utility gate column tells how a group is held to the original: within the "
             "policy's percentage-point limit (pp limit, large groups), within 3 standard errors (3 SE), or not "
             "gated (too few events, or a label the release mostly generalizes away). Unbiased rates of small "
             "groups are noisy and can fall outside 0 to 100%. Original-data figures of cells of fewer than "
             f"{limit} distinct people are suppressed, and so are the complementary cells needed so that no "
             "published total gives a suppressed cell back by subtraction.</p>"]
    for attr in sorted(agg["attribute"].unique()):
        a = agg[agg["attribute"] == attr].sort_values(["event_type", "group"], kind="stable")
        shown = a[(a["gate"] != "none") & ~a["hidden"]]
        if shown.empty:
            shown = a[~a["hidden"]]
        if len(shown) > CHART_ROWS:
            shown = shown.sort_values(["n_original"], ascending=False, kind="stable").head(CHART_ROWS) \
                .sort_values(["event_type", "group"], kind="stable")
        cats = [f"{g} \u00b7 {t}" for g, t in zip(shown["group"], shown["event_type"])]
        left_out = len(a) - len(shown)
        caption = (f"{what[0].upper() + what[1:]} by {attr} and event type: original vs released (unbiased)."
                   + (f" {left_out} smaller group(s) (too few events to gate, or beyond the {CHART_ROWS} largest) "
                      "are in the table only." if left_out else ""))
        parts.append(f"<h3>By {esc(attr)}</h3>")
        parts.append(charts.hbar_chart(
            f"chart-rates-{_slug(attr)}", caption, cats,
            [Series("original", shown["original_rate"].tolist()),
             Series("released, unbiased", shown["released_rate"].tolist())],
            x_label="rate", percent=True, title=f"Outcome rates by {attr}: original vs released"))
        cols = ["group", "event_type", "n_original", "original_rate", "released_rate", "diff_pp"]
        cols += [c for c in ("reference", "original_ratio", "released_ratio") if c in a.columns]
        table = a[cols].assign(gate=[GATE_TEXT.get(g, g) for g in a["gate"]])
        table = _suppress(table, a["hidden"], ("n_original", "original_rate", "diff_pp", "original_ratio"))
        parts.append(_table(table, kinds={"original_rate": "pct", "released_rate": "pct", "diff_pp": "pp",
                                          "original_ratio": "ratio", "released_ratio": "ratio"},
                            headers={"n_original": "events", "original_rate": "original rate",
                                     "released_rate": "released rate (unbiased)", "diff_pp": "difference (pp)",
                                     "original_ratio": "disparity original", "released_ratio": "disparity released",
                                     "gate": "utility gate"}, cls="long"))
    full = r[["attribute", "group", "event_type", "outcome", "n_original", "original_rate", "n_released",
              "observed_rate", "unbiased_rate", "se", "diff_pp", "gate", "passed"]]
    full = _suppress(full, r["hidden"], ("n_original", "original_rate", "diff_pp"))
    parts.append(f"<details><summary>Every outcome ({len(full)} rows: group x event type x outcome, with standard "
                 "errors and the utility gate applied)</summary>"
                 + _table(full, kinds={"original_rate": "pct", "observed_rate": "pct", "unbiased_rate": "pct",
                                       "se": "pct", "diff_pp": "pp"}, cls="long") + "</details>")
    return _section("group-rates", "Outcome rates per group (original vs release after unbiasing)", *parts)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "x"


def _event_counts_section(ec: pd.DataFrame) -> str:
    if ec.empty:
        return _section("event-counts", "Event counts by type and period", "<p>No events.</p>")
    ec = ec.assign(event_type=ec["event_type"].astype(str), period=ec["period"].astype(str))
    periods = sorted(ec["period"].unique())
    types = sorted(ec["event_type"].unique())
    piv = ec.pivot_table(index="period", columns="event_type", values="released", aggfunc="sum", fill_value=0)
    series = [Series(t, [int(piv.at[p, t]) if t in piv.columns and p in piv.index else 0 for p in periods])
              for t in types]
    preserved = bool((ec["original"] == ec["released"]).all())
    kept = ("identical to the input counts: every event is kept" if preserved
            else "see the table for differences from the input")
    chart = charts.bar_chart(
        "chart-event-counts", f"Released events per period (date precision of the release) and event type; "
        f"{kept}.",
        periods, series, x_label="period", y_label="events", title="Event counts by type and period")
    table = ec.assign(difference=ec["released"] - ec["original"]).sort_values(["period", "event_type"], kind="stable")
    total = (f"<p>{fmt(ec['released'].sum())} events released in {len(periods)} period(s) and {len(types)} event "
             f"type(s); {fmt(ec['original'].sum())} in the input.</p>")
    return _section("event-counts", "Event counts by type and period", total, chart,
                    _table(table[["period", "event_type", "original", "released", "difference"]], cls="long"))


def _persona_sizes_section(personas: pd.DataFrame, policy: Mapping) -> str:
    if personas.empty or "size" not in personas:
        return _section("persona-sizes", "Persona sizes", "<p>No personas.</p>")
    sizes = personas["size"].astype("int64")
    chart = charts.histogram(
        "chart-persona-sizes", f"Number of personas by size (members per persona). Every persona has at least "
        f"k = {policy['k']} members and at most 2k - 1 unless a stratum forces a larger one.",
        sizes.tolist(), x_label="people per persona", y_label="personas", title="Persona size distribution")
    stats = pd.DataFrame([{"personas": len(sizes), "people": int(sizes.sum()), "smallest": int(sizes.min()),
                           "median": float(sizes.median()), "mean": round(float(sizes.mean()), 2),
                           "largest": int(sizes.max()), "policy k": int(policy["k"])}])
    return _section("persona-sizes", "Persona size distribution", chart, _table(stats))


def _parameters_section(params: Mapping, policy: Mapping, requested: Mapping, counts: Mapping[str, int]) -> str:
    rows = []
    for name in sorted(set(policy) | set(requested)):
        rel, req = policy.get(name), requested.get(name)
        show = (lambda v: ", ".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else
                ("n/a" if v is None else str(v)))
        rows.append({"parameter": name, "released": show(rel), "requested": show(req),
                     "changed by the loop": "yes" if rel != req else "", "meaning": PARAMETER_MEANINGS.get(name, "")})
    series = params.get("series") or {}
    extra = pd.DataFrame([{"domain": params.get("domain"), "release id": params.get("release_id") or "n/a",
                           **({"version": series.get("version"), "supersedes": series.get("supersedes") or "",
                               "fresh randomness": "yes" if series.get("fresh_randomness") else "",
                               "series window (months)": series.get("window_months") or "all time"}
                              if series else {}),
                           "key fingerprint": params.get("key_fingerprint"),
                           **({"suppressed events": int(params.get("suppressed_events") or 0)}
                              if "suppressed_events" in params else {})}])
    parts = [_table(pd.DataFrame(rows)), "<h3>Release</h3>", _table(extra),
             "<p class='note'>The key fingerprint identifies the secret release key used for the noise without "
             "revealing it; the key itself is never written.</p>"]
    if counts:
        parts += ["<h3>Input reconciliation</h3>",
                  _table(pd.DataFrame([{"count": k, "value": v} for k, v in counts.items()]))]
    return _section("parameters", "Parameters", *parts)


def _unbias_section(pram: pd.DataFrame, rates: pd.DataFrame, adverse: Mapping[str, tuple[str, ...]]) -> str:
    if pram.empty:
        return _section("unbias", "How to unbias outcome rates", "<p>Outcomes were not randomized.</p>")
    p = float(pram["p"].iloc[0])
    parts = [f"<p>Outcomes were randomized with <strong>invariant PRAM</strong>: each event keeps its true outcome "
             f"with probability <strong>p = {p:g}</strong>, otherwise its outcome is drawn from &pi;, the outcome "
             "distribution of its event type (below). Rates computed on the release are pulled towards &pi;; undo "
             "this for an observed rate r of outcome o among N events of type t:</p>",
             f"<p class='formula'>true rate &asymp; (r &minus; (1 &minus; p) &times; &pi;[t, o]) / p "
             f"&nbsp;=&nbsp; (r &minus; {1 - p:.4g} &times; &pi;[t, o]) / {p:g}</p>",
             "<p class='formula'>standard error &asymp; &radic;(q (1 &minus; q) / (N + 4)) / p, "
             "with q = (r N + 2) / (N + 4)</p>"]
    example = rates
    if "hidden" in rates.columns:
        rates = rates[~rates["hidden"].astype(bool)]
    if not rates.empty:
        gate = rates["gate"] if "gate" in rates.columns else pd.Series("pp", index=rates.index)
        gated = rates[gate != "none"] if (gate != "none").any() else rates
        adv = gated[[o in adverse.get(str(t), ()) for t, o in zip(gated["event_type"], gated["outcome"])]]
        pool = adv if len(adv) else gated
        pool = pool[(pool["observed_rate"] > 0) & (pool["observed_rate"] < 1)] if \
            ((pool["observed_rate"] > 0) & (pool["observed_rate"] < 1)).any() else pool
        example = pool.sort_values(["n_released", "attribute", "group", "event_type", "outcome"],
                                   ascending=[False, True, True, True, True], kind="stable").head(1)
    if len(example):
        e = example.iloc[0]
        t, o = str(e["event_type"]), str(e["outcome"])
        match = pram[(pram["event_type"].astype(str) == t) & (pram["outcome"].astype(str) == o)]
        pi = float(match["probability"].iloc[0]) if len(match) else float("nan")
        r_obs, n = float(e["observed_rate"]), int(e["n_released"])
        shift = (1 - p) * pi
        unb = (r_obs - shift) / p
        q = (r_obs * n + 2) / (n + 4)
        se = math.sqrt(q * (1 - q) / (n + 4)) / p
        parts += ["<h3>Worked example from this release</h3>",
                  f"<p>Group <strong>{esc(e['group'])}</strong> ({esc(e['attribute'])}), event type "
                  f"<strong>{esc(t)}</strong>, outcome <strong>{esc(o)}</strong>: the release shows "
                  f"N = {n:,} events with observed rate r = {r_obs:.4f}; &pi;[{esc(t)}, {esc(o)}] = {pi:.4f}; "
                  f"p = {p:g}.</p>",
                  "<p class='formula' id='unbias-example'>"
                  f"true rate &asymp; ({r_obs:.4f} &minus; {1 - p:.4g} &times; {pi:.4f}) / {p:g} = "
                  f"({r_obs:.4f} &minus; {shift:.4f}) / {p:g} = <strong>{unb:.4f}</strong>"
                  f" &plusmn; {1.96 * se:.4f} (95%)</p>",
                  *([f"<p>The original data give {float(e['original_rate']):.4f} for this group: a difference of "
                     f"{100 * (unb - float(e['original_rate'])):+.2f} percentage points"
                     f" ({abs(unb - float(e['original_rate'])) / se if se else 0:.1f} standard errors).</p>"]
                    if "original_rate" in e.index else [])]
    parts += ["<h3>In pandas</h3>",
              "<pre><code>"
              + esc("import json\n"
                    "import pandas as pd\n\n"
                    "manifest = json.load(open(\"manifest.json\"))\n"
                    f"p = manifest[\"pram\"][\"p\"]  # {p:g}\n"
                    "pi = pd.Series(manifest[\"pram\"][\"pi\"])  "
                    "# keyed \"event_type/outcome\", as in the table below\n"
                    "events = pd.read_parquet(\"events.parquet\")\n"
                    "events[\"outcome\"] = events[\"outcome\"].astype(str)\n"
                    "observed = events.groupby(\"event_type\", observed=True)[\"outcome\"]"
                    ".value_counts(normalize=True)\n"
                    "pi_of = pi.loc[[f\"{t}/{o}\" for t, o in observed.index]].to_numpy()\n"
                    "true = (observed - (1 - p) * pi_of) / p  # unbiased outcome rates per event type")
              + "</code></pre>",
              "<h3>PRAM parameters</h3>",
              _table(pram.assign(event_type=pram["event_type"].astype(str), outcome=pram["outcome"].astype(str))
                     .rename(columns={"probability": "pi"})[["event_type", "outcome", "pi", "p"]], cls="long")]
    return _section("unbias", "How to unbias outcome rates", *parts)


# --- the report ---------------------------------------------------------------------------------

def report_verdict(release: ReleaseTables) -> Verdict:
    """The verdict of the release whose tables these are."""
    return verdict(release.metrics, release.policy)


def _page(title: str, header: str, toc: tuple[tuple[str, str], ...], sections: list[str], footer: str) -> str:
    nav = "".join(f"<a href='#{sid}'>{esc(name)}</a>" for sid, name in toc)
    body = [f"<header><h1>{esc(title)}</h1><p class='sub'>{header}</p><nav class='toc' aria-label='sections'>{nav}"
            "</nav></header><main>", *sections, f"</main><footer>{footer}</footer>"]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def _header(domain: str, partition: str, m: Mapping, policy: Mapping) -> str:
    return (f"Domain {esc(domain)}" + (f"; release period {esc(partition)}" if partition else "")
            + f"; {fmt(m.get('n_people'))} people in {fmt(m.get('n_personas'))} personas; {fmt(m.get('n_events'))} "
            f"events; privacy level {esc(policy.get('level', ''))}.")


def _published_rates_section(pub: PublishedRelease, rates: pd.DataFrame) -> str:
    """Unbiased released rates per group (``pub.group_rates()``), from the published files, small cells hidden."""
    if rates.empty:
        return _section("group-rates", "Outcome rates per group",
                        "<p>No demographic group attributes in this release.</p>")
    limit = pub.small_cell_people
    adverse = pub.adverse_outcomes
    if adverse:
        sel = rates[[o in adverse.get(t, ()) for t, o in zip(rates["event_type"], rates["outcome"])]]
        what = "adverse outcome rate (" + "; ".join(f"{t}: {', '.join(o)}" for t, o in sorted(adverse.items())) + ")"
    else:
        sel = rates
        what = "outcome rate"
    keys = ["attribute", "group", "event_type"]
    agg = sel.groupby(keys, sort=True).agg(people=("people", "first"), n_released=("n_released", "first"),
                                           released_rate=("unbiased_rate", "sum"), se=("se", "max"),
                                           hidden=("hidden", "first")).reset_index()
    parts = [f"<p>For each demographic group a persona publishes and each event type: the {esc(what)} in the "
             "release after PRAM unbiasing (see <a href='#unbias'>how to unbias</a>), with its standard error. "
             "Everything here is computed from the published files and PRAM's published parameters. A cell whose "
             f"personas hold fewer than {limit} people with an event of the type is hidden, and so are the "
             "complementary cells needed so that no total gives a hidden cell back by subtraction. Unbiased "
             "rates of small groups are noisy and can fall outside 0 to 100%.</p>"]
    for attr in sorted(agg["attribute"].unique()):
        a = agg[agg["attribute"] == attr].sort_values(["event_type", "group"], kind="stable")
        shown = a[~a["hidden"]]
        if len(shown) > CHART_ROWS:
            shown = shown.sort_values(["people"], ascending=False, kind="stable").head(CHART_ROWS) \
                .sort_values(["event_type", "group"], kind="stable")
        if len(shown):
            cats = [f"{g} \u00b7 {t}" for g, t in zip(shown["group"], shown["event_type"])]
            parts.append(f"<h3>By {esc(attr)}</h3>")
            parts.append(charts.hbar_chart(
                f"chart-rates-{_slug(attr)}", f"{what[0].upper() + what[1:]} by {attr} and event type (released, "
                "unbiased)" + (f"; {len(a) - len(shown)} hidden or smaller cell(s) are in the table only."
                               if len(a) > len(shown) else "."),
                cats, [Series("released, unbiased", shown["released_rate"].tolist())], x_label="rate", percent=True,
                title=f"Outcome rates by {attr} (released, unbiased)"))
        table = _suppress(a[["group", "event_type", "people", "n_released", "released_rate", "se"]], a["hidden"],
                          ("people", "n_released", "released_rate", "se"))
        parts.append(_table(table, kinds={"released_rate": "pct", "se": "pct"},
                            headers={"n_released": "events", "released_rate": "released rate (unbiased)",
                                     "se": "standard error"}, cls="long"))
    full = _suppress(rates[["attribute", "group", "event_type", "outcome", "n_released", "observed_rate",
                            "unbiased_rate", "se", "ci_low", "ci_high"]], rates["hidden"],
                     ("n_released", "observed_rate", "unbiased_rate", "se", "ci_low", "ci_high"))
    parts.append(f"<details><summary>Every outcome ({len(full)} rows: group x event type x outcome, with 95% "
                 "confidence intervals)</summary>"
                 + _table(full, kinds={"observed_rate": "pct", "unbiased_rate": "pct", "se": "pct", "ci_low": "pct",
                                       "ci_high": "pct"}, cls="long") + "</details>")
    return _section("group-rates", "Outcome rates per group (release after unbiasing)", *parts)


RESEARCH_INTRO = (
    "<p>The analyses this release was declared to support, each run on the release: outcomes are unbiased by "
    "inverting PRAM with its published p and &pi;, and the 95% intervals add PRAM's own variance (delta method) to "
    "the sampling variance. Rate differences are pooled over the event types named; odds ratios are "
    "Mantel-Haenszel over the personas' published age band x sex x event type. A group needs at least "
    f"{MIN_EVENTS} events of the types and {MIN_OUTCOMES} adverse and {MIN_OUTCOMES} other outcomes in the "
    "release.</p>")


def _interval(lo, hi) -> str:
    """A 95% interval as text; "exact" for a count (its interval is the count itself)."""
    if _f(lo) is None or _f(hi) is None:
        return "n/a"
    return "exact" if lo == hi else f"[{fmt(lo)}, {fmt(hi)}]"


def _published_research_section(pub: PublishedRelease) -> str:
    """Declared analyses as published: released estimates and intervals, supported yes/no, a release-only reason."""
    if not pub.research:
        return _section("research", "Research validation", "<p>No analyses were declared for this release.</p>")
    r = pd.DataFrame(pub.research)
    table = pd.DataFrame({
        "analysis": r["question"], "measure": r["measure"], "released estimate": r["released_estimate"],
        "95% CI": [_interval(lo, hi) for lo, hi in zip(r["released_ci_low"], r["released_ci_high"])],
        "events (group / reference)": [" / ".join(fmt(v) for v in (g, ref) if _f(v) is not None) or "n/a"
                                       for g, ref in zip(r["events_group_released"], r["events_reference_released"])],
        "supported": r["supported"].astype(bool), "reason": r["reason"]})
    n_ok = int(r["supported"].sum())
    parts = [RESEARCH_INTRO,
             f"<p><strong>{n_ok} of {len(r)}</strong> declared analyses are supported. <em>Supported</em> means the "
             "same analysis on the source data reaches the same conclusion: the same significance at 5%, the same "
             "sign where the effect is significant, and a released interval that covers the source data's estimate. "
             "This one bit per analysis is derived from the source data (SECURITY.md says why publishing it is "
             "acceptable); the source data's estimates are in the internal report only. Figures of an analysis with "
             f"a group of fewer than {pub.small_cell_people} people in the release are not shown (n/a).</p>",
             _table(table, cls="long"),
             f"<p class='note'>Declared analyses, by name: {esc('; '.join(r['name']))}.</p>"]
    return _section("research", "Research validation (declared analyses)", *parts)


def _research_section(release: ReleaseTables, policy: Mapping) -> str:
    """Declared analyses, original data vs release (internal), original figures of small groups suppressed."""
    r = release.research
    if r is None or r.empty:
        return _section("research", "Research validation", "<p>No analyses were declared for this release.</p>")
    limit = int(policy.get("small_cell_people") or SMALL_CELL_PEOPLE)
    people = r[["people_group_original", "people_reference_original"]].astype(float)
    hidden = (people.fillna(np.inf) < limit).any(axis=1)
    table = pd.DataFrame({
        "analysis": r["name"], "measure": r["measure"], "original": r["original_estimate"],
        "original 95% CI": [_interval(lo, hi) for lo, hi in zip(r["original_ci_low"], r["original_ci_high"])],
        "released": r["released_estimate"],
        "released 95% CI": [_interval(lo, hi) for lo, hi in zip(r["released_ci_low"], r["released_ci_high"])],
        "same significance": r["same_significance"].astype(object), "same sign": r["same_sign"].astype(object),
        "covers original": r["covers_original"].astype(object), "effect kept": r["preservation"],
        "coverage": r["coverage_group"], "supported": r["supported"].astype(bool), "reason": r["reason"],
        "published reason": r["published_reason"]})
    table = _suppress(table, hidden, ("original", "original 95% CI", "coverage", "effect kept"))
    n_ok = int(r["supported"].sum())
    parts = [RESEARCH_INTRO.replace("run on the release", "run on the original data and on the release"),
             f"<p><strong>{n_ok} of {len(r)}</strong> declared analyses hold on the release. An analysis holds when "
             "both estimates are significant at 5% or neither is, a significant effect keeps its sign, and the "
             "released 95% interval covers the original estimate. Effect kept: released effect over original "
             "(difference or log ratio; 1 = fully kept). Coverage: share of the compared group's events its "
             "published label keeps. The published report shows the released figures, the supported bit and the "
             f"published reason only. Original figures of analyses with a group of fewer than {limit} people are "
             "suppressed.</p>",
             _table(table, kinds={"effect kept": "ratio", "coverage": "pct"}, cls="long")]
    return _section("research", "Research validation (original data vs release)", *parts)


def released_counts(events: pd.DataFrame, precision: str) -> pd.DataFrame:
    """Released events per (period, event type), counted on day and type codes: labels are made for the
    distinct days only, never for every event (10M at scale)."""
    days = pd.to_datetime(events["event_date"]).to_numpy().astype("datetime64[D]")
    day, udays = pd.factorize(days, use_na_sentinel=True)  # events without a date belong to no period
    etype, types = type_codes(events["event_type"])
    known = day >= 0
    n_types = len(types) + 1  # the last code: no type (shown as "nan", as text would)
    counts = np.bincount(day[known] * n_types + np.where(etype >= 0, etype, len(types))[known],
                         minlength=len(udays) * n_types)
    cell = np.flatnonzero(counts)
    labels = np.asarray([*types, "nan"], dtype=object)
    periods = period_label(np.asarray(udays, dtype="datetime64[D]"), precision)
    return pd.DataFrame({"period": periods[cell // n_types], "event_type": labels[cell % n_types],
                         "released": counts[cell]}) \
        .groupby(["period", "event_type"], sort=True)["released"].sum().reset_index()


def _published_counts_section(pub: PublishedRelease) -> str:
    """Released events per period and type (the events file's own counts)."""
    ev = pub.events
    if ev.empty:
        return _section("event-counts", "Event counts by type and period", "<p>No events.</p>")
    ec = released_counts(ev, str(pub.policy.get("date_precision", "day")))
    periods, types = sorted(ec["period"].unique()), sorted(ec["event_type"].unique())
    piv = ec.pivot_table(index="period", columns="event_type", values="released", aggfunc="sum", fill_value=0)
    series = [Series(t, [int(piv.at[p, t]) if t in piv.columns and p in piv.index else 0 for p in periods])
              for t in types]
    chart = charts.bar_chart("chart-event-counts", "Released events per period (at the release's date precision) "
                             "and event type.", periods, series, x_label="period",
                             y_label="events", title="Event counts by type and period")
    return _section("event-counts", "Event counts by type and period",
                    f"<p>{fmt(len(ev))} events released in {len(periods)} period(s) and {len(types)} event type(s)."
                    "</p>", chart, _table(ec, cls="long"))


PUBLISHED_TOC = (("verdict", "Verdict"), ("metrics", "Risk metrics"), ("attacks", "Attacks"), ("loop", "Privacy loop"),
                 ("group-rates", "Group rates"), ("research", "Research validation"), ("event-counts", "Event counts"),
                 ("persona-sizes", "Persona sizes"), ("parameters", "Parameters"), ("unbias", "Unbiasing"))
INTERNAL_TOC = (("verdict", "Verdict"), ("metrics", "Risk metrics"), ("attacks", "Attacks"), ("loop", "Privacy loop"),
                ("tradeoff", "Trade-off"), ("group-rates", "Group rates"), ("research", "Research validation"),
                ("event-counts", "Event counts"), ("persona-sizes", "Persona sizes"), ("parameters", "Parameters"),
                ("unbias", "Unbiasing"), ("advisor", "Advisor"))


def _advisor_section(advice: Mapping | None) -> str:
    """The advisor's explanation (marked generated, beside the rule-based text), its recommendation and what the
    engine did with it, and every exchange for audit (internal: the payload sent and the reply)."""
    if not advice:
        return _section("advisor", "Advisor", "<p>No advisor was asked (<code>advisor=None</code>).</p>")
    parts = []
    e = advice.get("explanation")
    if e:
        generated = e.get("generated_by", "")
        parts.append(f"<p class='verdict v-internal'><strong>Generated by {esc(generated)}</strong>"
                     + (" (an LLM: check it against the figures above)" if generated != "rules" else "")
                     + f": {esc(e.get('text', ''))}</p>"
                     f"<p><strong>Rule-based text:</strong> {esc(e.get('rule_text', ''))}</p>"
                     + (f"<p>Note: {esc(e['note'])}</p>" if e.get("note") else ""))
    r = advice.get("recommendation")
    if r:
        changes = ", ".join(f"{c['field']} = {c['value']}" for c in r.get("changes", [])) or "none"
        parts.append(f"<p><strong>Recommendation ({esc(r.get('generated_by', ''))}):</strong> {esc(changes)}. "
                     f"{esc(r.get('rationale', ''))}</p><p><strong>What the engine did:</strong> "
                     f"{esc(r.get('tried', ''))}</p>"
                     + (f"<p>Rejected: {esc('; '.join(r['rejected']))}</p>" if r.get("rejected") else ""))
    exchanges = advice.get("exchanges") or []
    if exchanges:
        table = pd.DataFrame([{k: x.get(k) for k in ("provider", "model", "at", "task", "outcome", "payload_sha256",
                                                      "payload", "reply")} for x in exchanges])
        parts.append("<p>Every request sent and its reply (aggregates only; the allow-list is "
                     "<code>personatwin.advisor.payload</code>):</p>" + _table(table))
    else:
        parts.append("<p>No request left this machine (the rule-based advisor).</p>")
    return _section("advisor", "Advisor", *parts)


def approval_section(a: Mapping) -> str:
    """The disclosure review a published release passed: its approval id, how many approved and when (no names)."""
    return _section("approval", "Approval",
                    f"<p>Approved for publication after disclosure review: approval <strong>{esc(a['approval_id'])}"
                    f"</strong>, {esc(a['approvals'])} approvals (of {esc(a['required'])} required), "
                    f"{esc(a['approved_at'])}. Reviewed manifest SHA-256 <code>{esc(a['staged_manifest_sha256'])}"
                    "</code>.</p>")


def render_report(release: ReleaseTables | Release | PublishedRelease, partition: str = "") -> str:
    """The published report (release folder) as HTML: computed from what the folder publishes only."""
    if isinstance(release, Release):
        release = release.tables()
    pub = release if isinstance(release, PublishedRelease) else PublishedRelease.from_tables(release)
    m, policy = dict(pub.metrics), dict(pub.policy)
    rates = pub.group_rates()
    title = "PersonaTwin privacy report" + (f": {partition}" if partition else "")
    sections = [
        *([approval_section(pub.approval)] if pub.approval else []),
        _verdict_section(verdict(m, policy)),
        _metrics_section(m, policy),
        _attacks_section(pub.anonymeter),
        _loop_section(pd.DataFrame(pub.history), policy),
        _published_rates_section(pub, rates),
        _published_research_section(pub),
        _published_counts_section(pub),
        _persona_sizes_section(pub.personas, policy),
        _parameters_section({"domain": pub.domain, "key_fingerprint": pub.key_fingerprint,
                             "release_id": pub.release_id, "series": dict(pub.series)}, policy,
                            dict(pub.requested_policy), {}),
        _unbias_section(pub.pram, rates, pub.adverse_outcomes),
    ]
    footer = (f"PersonaTwin {esc(__version__)}. This report is computed from the files of this release folder "
              "alone (data files and manifest): it holds no original-data figure, and no person, persona or event "
              "row. It loads nothing from the network and runs no script.")
    return _page(title, _header(pub.domain, partition, m, policy), PUBLISHED_TOC, sections, footer)


def render_internal_report(release: ReleaseTables | Release, partition: str = "") -> str:
    """The internal report (original vs release, for the data steward) as HTML; never in a release folder."""
    if isinstance(release, Release):
        release = release.tables()
    m = dict(release.metrics)
    params = release.parameters()
    policy, requested = dict(release.policy), dict(release.requested_policy)
    hist = release.history
    anonymeter = None if release.anonymeter is None or release.anonymeter.empty else \
        summary_from_table(release.anonymeter)
    title = "PersonaTwin internal report" + (f": {partition}" if partition else "")
    sections = [
        "<p class='verdict v-internal'><strong>Internal: do not publish.</strong> This report compares the release "
        "with the original data (original rates and counts, differences, information loss, input counts). The "
        "published report in the release folder shows release-derived figures only.</p>",
        _verdict_section(verdict(m, policy)),
        _metrics_section(m, policy),
        _attacks_section(anonymeter),
        _loop_section(hist, policy),
        _tradeoff_section(hist, policy),
        _group_rates_section(release, policy),
        _research_section(release, policy),
        _event_counts_section(release.event_counts),
        _persona_sizes_section(release.personas, policy),
        _parameters_section(params, policy, requested, release.counts),
        _unbias_section(release.pram, release.group_rates, release.adverse_outcomes),
        _advisor_section(release.advice),
    ]
    footer = (f"PersonaTwin {esc(__version__)}. Internal: original-data aggregates (small cells suppressed), no "
              "person, persona or event row.")
    return _page(title, _header(release.domain, partition, m, policy), INTERNAL_TOC, sections, footer)


def write_report(result: Release, path, internal: bool = False) -> str:
    """Write the published (or ``internal``) report to ``path`` (atomically: a temporary file renamed
    into place); returns the path."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(render_internal_report(result) if internal else render_report(result), encoding="utf-8")
    os.replace(tmp, path)
    return str(path)
