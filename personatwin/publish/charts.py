"""Inline SVG charts for the privacy report and the release index: small pure functions, no library.

Each function returns one ``<figure id=...>`` holding an ``<svg role="img">`` (with ``<title>`` and
``<desc>`` for screen readers) and a ``<figcaption>``. The SVG carries its own presentation attributes
(no script, no external font or stylesheet, no namespace URL), so it renders with JavaScript off, in
print and in any browser. All text is escaped. Charts only ever receive aggregates (rates, counts,
risks per iteration or partition), never person-level rows. Output is deterministic: the same input
gives the same string, byte for byte.

Drawn marks carry a class so tests can count them: ``bar`` (rect), ``pt`` (circle), ``series`` (path).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import NamedTuple

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3")  # line series stay apart in grey-scale print
INK, MUTED, GRID = "#1d232a", "#5b6570", "#dde2e8"
FONT = 12
CHAR_W = 6.6  # average advance of a 12 px sans-serif character, for layout only

CHART_CSS = """
figure.chart{margin:1rem 0 1.5rem;break-inside:avoid;page-break-inside:avoid}
figure.chart svg{max-width:100%;height:auto;display:block;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
figure.chart figcaption{font-size:.85rem;color:#5b6570;margin-top:.3rem;max-width:48rem}
"""  # noqa: E501 (a CSS rule, kept on one line as it is written into the report)


class Series(NamedTuple):
    """One named sequence of values (``None`` or NaN is a gap); ``axis`` is ``left`` or ``right``."""

    name: str
    values: Sequence[float | None]
    axis: str = "left"


class RefLine(NamedTuple):
    """A dashed horizontal reference line (a threshold) at ``value`` on ``axis``."""

    value: float
    label: str
    axis: str = "left"


class Point(NamedTuple):
    """One point of a scatter; ``highlight`` draws it larger and filled (e.g. the released configuration)."""

    x: float
    y: float
    label: str = ""
    highlight: bool = False


# --- helpers ------------------------------------------------------------------------------------

def esc(text) -> str:
    """Text for HTML or SVG content and attribute values."""
    return html.escape(str(text), quote=True)


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _c(v: float) -> str:
    """A coordinate: one decimal, no trailing zeros (keeps the output short and stable)."""
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] with a step of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9)
    ticks = []
    for i in range(first, first + 1000):
        t = round(i * step, 12)
        ticks.append(t)
        if t >= hi - 1e-12 * max(1.0, abs(hi)):
            break
    return ticks


def _decimals(step: float) -> int:
    """Decimals that show every multiple of ``step`` exactly (0.25 -> 2, 0.02 -> 2, 5 -> 0)."""
    if step <= 0:
        return 0
    for d in range(0, 8):
        if abs(step * 10 ** d - round(step * 10 ** d)) < 1e-6 * max(1.0, step * 10 ** d):
            return d
    return 8


def tick_label(v: float, step: float = 0.0) -> str:
    """A tick label with as many decimals as the step needs."""
    if abs(v) >= 1e6 and step >= 1e5:
        return f"{v / 1e6:,.{_decimals(step / 1e6)}f}M"
    return f"{v:,.{_decimals(step) if step else (0 if float(v).is_integer() else 2)}f}"


def _truncate(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(chars - 1, 1)] + "\u2026"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT, fill: str = INK,
          weight: str = "", rotate: float = 0.0, cls: str = "", halo: bool = False) -> str:
    attrs = f' x="{_c(x)}" y="{_c(y)}" font-size="{size}" fill="{fill}"'
    if halo:  # a white outline keeps a label readable where it crosses a line
        attrs += ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if rotate:
        attrs += f' transform="rotate({_c(rotate)} {_c(x)} {_c(y)})"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<text{attrs}>{esc(text)}</text>"


def _free_spot(x: float, y: float, w: float, placed: Sequence[tuple[float, float, float]], lo: float,
               hi: float, step: float = 11.0, tries: int = 12) -> float:
    """A y near ``y`` (within [lo, hi]) where a label of width ``w`` at ``x`` overlaps none already
    placed (x, y, width); the nearest such spot, alternating up and down, else ``y`` itself."""
    for i in range(tries + 1):
        for cand in ((y,) if i == 0 else (y - i * step, y + i * step)):
            if lo <= cand <= hi and not any(x < px + pw and px < x + w and abs(cand - py) < step
                                            for px, py, pw in placed):
                return cand
    return y


def _figure(chart_id: str, title: str, desc: str, caption: str, width: float, height: float, body: list[str]) -> str:
    cid = esc(chart_id)
    return (f'<figure class="chart" id="{cid}">'
            f'<svg role="img" aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {_c(width)} {_c(height)}" '
            f'width="{_c(width)}" height="{_c(height)}" data-chart="{cid}">'
            f'<title id="{cid}-title">{esc(title)}</title><desc id="{cid}-desc">{esc(desc)}</desc>'
            f'<rect x="0" y="0" width="{_c(width)}" height="{_c(height)}" fill="#ffffff"/>'
            + "".join(body) + f"</svg><figcaption>{esc(caption)}</figcaption></figure>")


def _empty(chart_id: str, title: str, caption: str, message: str = "no data") -> str:
    body = [_text(160, 60, message, anchor="middle", fill=MUTED)]
    return _figure(chart_id, title, message, caption, 320, 110, body)


def _legend(items: list[tuple[str, str, str]], x: float, y: float, max_x: float) -> tuple[list[str], float]:
    """Swatches (name, colour, kind in {'line', 'box', 'line:dash'}) laid out left to right, wrapping."""
    out, cx, cy = [], x, y
    for name, colour, kind in items:
        w = 22 + len(name) * CHAR_W + 14
        if cx + w > max_x and cx > x:
            cx, cy = x, cy + 16
        if kind.startswith("line"):
            dash = kind.partition(":")[2]
            out.append(f'<line x1="{_c(cx)}" y1="{_c(cy - 4)}" x2="{_c(cx + 16)}" y2="{_c(cy - 4)}" stroke="{colour}" '
                       f'stroke-width="2.5"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        else:
            out.append(f'<rect x="{_c(cx)}" y="{_c(cy - 10)}" width="12" height="12" fill="{colour}"/>')
        out.append(_text(cx + 20, cy, name))
        cx += w
    return out, cy


class _Scale:
    """Linear map from data to pixels over nice ticks (``lo`` forced to 0 when ``zero``)."""

    def __init__(self, values: Sequence[float], p0: float, p1: float, *, zero: bool = True, count: int = 5):
        vals = [v for v in values if v is not None]
        lo = min(vals, default=0.0)
        hi = max(vals, default=1.0)
        if zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        self.ticks = nice_ticks(lo, hi, count)
        self.lo, self.hi = self.ticks[0], self.ticks[-1]
        self.step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 1.0
        self.p0, self.p1 = p0, p1

    def __call__(self, v: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return self.p0 + (v - self.lo) / span * (self.p1 - self.p0)

    def label(self, v: float) -> str:
        return tick_label(v, self.step)


def _x_labels(labels: Sequence[str], xs: Sequence[float], y: float, plot_w: float) -> list[str]:
    """Category labels under the x axis: thinned, and turned 35 degrees when they would collide."""
    n = len(labels)
    if not n:
        return []
    longest = max(len(str(s)) for s in labels) * CHAR_W
    slot = plot_w / n
    rotate = longest + 6 > slot
    every = 1
    if rotate:
        every = max(1, math.ceil(n / max(1, plot_w // 16)))
    out = []
    for i, (label, x) in enumerate(zip(labels, xs)):
        if i % every:
            continue
        text = _truncate(str(label), 18)
        if rotate:
            out.append(_text(x, y + 4, text, anchor="end", rotate=-35, cls="xlabel"))
        else:
            out.append(_text(x, y + 14, text, anchor="middle", cls="xlabel"))
    return out


def _x_band_height(labels: Sequence[str], plot_w: float) -> float:
    if not labels:
        return 20
    longest = max(len(str(s)) for s in labels) * CHAR_W
    if longest + 6 > plot_w / len(labels):
        return min(longest, 18 * CHAR_W) * math.sin(math.radians(35)) + 16
    return 20


def _y_axis(scale: _Scale, x: float, left: float, right: float, *, side: str = "left", grid: bool = True,
            colour: str = MUTED) -> list[str]:
    out = []
    for t in scale.ticks:
        y = scale(t)
        if grid:
            out.append(f'<line x1="{_c(left)}" y1="{_c(y)}" x2="{_c(right)}" y2="{_c(y)}" stroke="{GRID}"/>')
        if side == "left":
            out.append(_text(x - 6, y + 4, scale.label(t), anchor="end", fill=colour, size=11))
        else:
            out.append(_text(x + 6, y + 4, scale.label(t), anchor="start", fill=colour, size=11))
    out.append(f'<line x1="{_c(x)}" y1="{_c(scale.p0)}" x2="{_c(x)}" y2="{_c(scale.p1)}" stroke="{MUTED}"/>')
    return out


def _axis_title(text: str, x: float, y: float, *, vertical: bool = False, colour: str = INK) -> str:
    return _text(x, y, text, anchor="middle", rotate=-90 if vertical else 0, fill=colour, weight="600", size=12)


# --- charts -------------------------------------------------------------------------------------

def line_chart(chart_id: str, caption: str, x_labels: Sequence, series: Sequence[Series], *, x_label: str,
               y_label: str, y2_label: str | None = None, ref_lines: Sequence[RefLine] = (), title: str | None = None,
               width: float = 680, height: float = 320, value_labels: int = 8,
               label_series: Sequence[int] | None = None) -> str:
    """Lines over categories (iterations, partitions), one or two y axes, optional dashed thresholds;
    each value is printed next to its point when there are at most ``value_labels`` categories (for the
    series in ``label_series``, all by default). Series are drawn last to first, the first on top."""
    title = title or caption
    labels = [str(v) for v in x_labels]
    n = len(labels)
    if not n or not series:
        return _empty(chart_id, title, caption)
    two_axes = any(s.axis == "right" for s in series)
    left, right = 72, (72 if two_axes else 24)
    legend_items = [(s.name, PALETTE[i % len(PALETTE)], f"line:{DASHES[i % len(DASHES)]}")
                    for i, s in enumerate(series)]
    legend_items += [(r.label, MUTED, "line:4 3") for r in ref_lines]
    legend, legend_y = _legend(legend_items, left, 18, width - right)
    top = legend_y + 16
    plot_w = width - left - right
    bottom = 28 + _x_band_height(labels, plot_w)
    base = height - bottom
    xs = [left + plot_w / 2] if n == 1 else [left + plot_w * (i + 0.5) / n for i in range(n)]

    def values(axis):
        vals = [_num(v) for s in series if s.axis == axis for v in s.values]
        vals += [_num(r.value) for r in ref_lines if r.axis == axis]
        return [v for v in vals if v is not None]

    ys = {"left": _Scale(values("left"), base, top)}
    if two_axes:
        ys["right"] = _Scale(values("right"), base, top)
    body = list(legend)
    body += _y_axis(ys["left"], left, left, width - right, colour=PALETTE[0] if two_axes else MUTED)
    if two_axes:
        first_right = next(i for i, s in enumerate(series) if s.axis == "right")
        body += _y_axis(ys["right"], width - right, left, width - right, side="right", grid=False,
                        colour=PALETTE[first_right % len(PALETTE)])
    body.append(f'<line x1="{_c(left)}" y1="{_c(base)}" x2="{_c(width - right)}" y2="{_c(base)}" stroke="{MUTED}"/>')
    for r in ref_lines:
        v = _num(r.value)
        if v is None:
            continue
        y = ys.get(r.axis, ys["left"])(v)
        body.append(f'<line class="ref" x1="{_c(left)}" y1="{_c(y)}" x2="{_c(width - right)}" y2="{_c(y)}" '
                    f'stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="4 3"/>')
        body.append(_text(left + 4, y - 4, r.label, fill=MUTED, size=10))
    desc = [""] * len(series)
    placed: list[tuple[float, float, float]] = []
    labelled = set(range(len(series)) if label_series is None else label_series)
    # drawn last to first, so the first series (the headline) stays on top where lines coincide
    for i in reversed(range(len(series))):
        s = series[i]
        colour, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        scale = ys.get(s.axis, ys["left"])
        pts = [(x, _num(v)) for x, v in zip(xs, s.values)]
        runs: list[list[tuple[float, float]]] = []
        run: list[tuple[float, float]] = []
        for x, v in pts:
            if v is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((x, scale(v)))
        if run:
            runs.append(run)
        d = " ".join("M" + " L".join(f"{_c(x)} {_c(y)}" for x, y in r) for r in runs if len(r) > 1)
        if d:
            body.append(f'<path class="series" d="{d}" fill="none" stroke="{colour}" '
                        f'stroke-width="{3 if i == 0 else 2}"'
                        + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        for (x, v), label in zip(pts, labels):
            if v is not None:
                body.append(f'<circle class="pt" cx="{_c(x)}" cy="{_c(scale(v))}" r="4" fill="{colour}">'
                            f"<title>{esc(s.name)} at {esc(label)}: {esc(_fmt_value(v))}</title></circle>")
                if n <= value_labels and i in labelled:  # few points: print each value next to its point
                    text = _short_value(v)
                    lx, ly, w = x + 7, scale(v) - 7, len(text) * 6.0
                    if ly < top + 4:  # at the top of the plot: below the point, clear of the legend
                        ly = scale(v) + 15
                    ly = _free_spot(lx, ly, w, placed, top + 4, base - 2)
                    placed.append((lx, ly, w))
                    body.append(_text(lx, ly, text, size=10, fill=colour, halo=True))
        desc[i] = f"{s.name}: " + ", ".join(f"{lab} {_fmt_value(_num(v))}" for lab, v in zip(labels, s.values))
    body += _x_labels(labels, xs, base, plot_w)
    body.append(_axis_title(x_label, left + plot_w / 2, height - 6))
    body.append(_axis_title(y_label, 16, top + (base - top) / 2, vertical=True,
                            colour=PALETTE[0] if two_axes else INK))
    if two_axes and y2_label:
        body.append(_axis_title(y2_label, width - 12, top + (base - top) / 2, vertical=True,
                                colour=PALETTE[first_right % len(PALETTE)]))
    return _figure(chart_id, title, "; ".join(desc), caption, width, height, body)


def scatter_chart(chart_id: str, caption: str, points: Sequence[Point], *, x_label: str, y_label: str,
                  ref_lines: Sequence[RefLine] = (), title: str | None = None, width: float = 680,
                  height: float = 340) -> str:
    """Points (x, y) with labels; dashed horizontal thresholds on y; highlighted points drawn larger."""
    title = title or caption
    raw = [(_num(p.x), _num(p.y), p) for p in points]
    pts = [(x, y, p) for x, y, p in raw if x is not None and y is not None]
    if not pts:
        return _empty(chart_id, title, caption)
    left, right = 72, (16 + max(len(r.label) for r in ref_lines) * 5.6 if ref_lines else 24)
    items = [("loop iteration", PALETTE[0], "box")] if any(not p.highlight for _, _, p in pts) else []
    items += [("released", PALETTE[5], "box")] if any(p.highlight for _, _, p in pts) else []
    items += [(r.label, MUTED, "line:4 3") for r in ref_lines]
    legend, legend_y = _legend(items, left, 18, width - right)
    top, base = legend_y + 16, height - 48
    xs_all = [x for x, _, _ in pts]
    lo, hi = min(xs_all), max(xs_all)
    pad = (hi - lo) * 0.1 or max(abs(hi) * 0.1, 1.0)
    xscale = _Scale([lo - pad, hi + pad], left, width - right, zero=False)
    yvals = [y for _, y, _ in pts] + [v for r in ref_lines if (v := _num(r.value)) is not None]
    yscale = _Scale(yvals, base, top)
    body = list(legend) + _y_axis(yscale, left, left, width - right)
    for t in xscale.ticks:
        x = xscale(t)
        body.append(f'<line x1="{_c(x)}" y1="{_c(top)}" x2="{_c(x)}" y2="{_c(base)}" stroke="{GRID}"/>')
        body.append(_text(x, base + 16, xscale.label(t), anchor="middle", fill=MUTED, size=11))
    body.append(f'<line x1="{_c(left)}" y1="{_c(base)}" x2="{_c(width - right)}" y2="{_c(base)}" stroke="{MUTED}"/>')
    for r in ref_lines:
        v = _num(r.value)
        if v is None:
            continue
        y = yscale(v)
        body.append(f'<line class="ref" x1="{_c(left)}" y1="{_c(y)}" x2="{_c(width - right)}" y2="{_c(y)}" '
                    f'stroke="{MUTED}" stroke-width="1.2" stroke-dasharray="4 3"/>')
        body.append(_text(width - right + 4, y + 3, r.label, fill=MUTED, size=10))
    placed: list[tuple[float, float, float]] = []
    desc = []
    for x, y, p in pts:
        cx, cy = xscale(x), yscale(y)
        colour = PALETTE[5] if p.highlight else PALETTE[0]
        body.append(f'<circle class="pt" cx="{_c(cx)}" cy="{_c(cy)}" r="{7 if p.highlight else 5}" fill="{colour}" '
                    f'fill-opacity="{1 if p.highlight else 0.75}" stroke="#ffffff"><title>{esc(p.label)}: '
                    f'{esc(x_label)} {esc(_fmt_value(x))}, {esc(y_label)} {esc(_fmt_value(y))}</title></circle>')
        if p.label:
            lx, ly = cx + 9, cy - 8
            ly = _free_spot(lx, ly, len(p.label) * CHAR_W, placed, top + 4, base - 2)
            placed.append((lx, ly, len(p.label) * CHAR_W))
            anchor = "start"
            if lx + len(p.label) * CHAR_W > width - right:
                lx, anchor = cx - 9, "end"
            body.append(_text(lx, ly, p.label, anchor=anchor, size=11, halo=True))
        desc.append(f"{p.label}: {_fmt_value(x)}, {_fmt_value(y)}")
    body.append(_axis_title(x_label, left + (width - left - right) / 2, height - 8))
    body.append(_axis_title(y_label, 16, top + (base - top) / 2, vertical=True))
    return _figure(chart_id, title, "; ".join(desc), caption, width, height, body)


def hbar_chart(chart_id: str, caption: str, categories: Sequence[str], series: Sequence[Series], *, x_label: str,
               percent: bool = False, title: str | None = None, width: float = 680, bar: float = 9) -> str:
    """Grouped horizontal bars: one row per category, one bar per series (e.g. original vs released)."""
    title = title or caption
    cats = [str(c) for c in categories]
    if not cats or not series:
        return _empty(chart_id, title, caption)
    label_chars = min(34, max(len(c) for c in cats))
    left, right = 16 + label_chars * CHAR_W, 64
    items = [(s.name, PALETTE[i % len(PALETTE)], "box") for i, s in enumerate(series)]
    legend, legend_y = _legend(items, left, 18, width - right)
    top = legend_y + 14
    row = bar * len(series) + 8
    base = top + row * len(cats)
    height = base + 44
    vals = [_num(v) for s in series for v in s.values]
    scale = _Scale([v for v in vals if v is not None] + [0.0], left, width - right)
    fmt = (lambda v: f"{100 * v:.1f}%") if percent else _fmt_value
    body = list(legend)
    for t in scale.ticks:
        x = scale(t)
        body.append(f'<line x1="{_c(x)}" y1="{_c(top)}" x2="{_c(x)}" y2="{_c(base)}" stroke="{GRID}"/>')
        body.append(_text(x, base + 15, f"{100 * t:.{max(0, _decimals(100 * scale.step))}f}%" if percent
                          else scale.label(t), anchor="middle", fill=MUTED, size=11))
    desc = []
    for r, cat in enumerate(cats):
        y0 = top + r * row + 4
        if r % 2:
            body.append(f'<rect x="{_c(left)}" y="{_c(y0 - 4)}" width="{_c(width - right - left)}" height="{_c(row)}" '
                        f'fill="#f5f7fa"/>')
        body.append(f"<g>{_text(left - 6, y0 + row / 2, _truncate(cat, label_chars), anchor='end', size=11)}"
                    f"<title>{esc(cat)}</title></g>")
        parts = []
        for i, s in enumerate(series):
            v = _num(s.values[r]) if r < len(s.values) else None
            y = y0 + i * bar
            if v is None:
                body.append(_text(left + 4, y + bar - 1, "n/a", size=9, fill=MUTED))
                continue
            x0, x1 = scale(min(v, 0.0)), scale(max(v, 0.0))
            body.append(f'<rect class="bar" x="{_c(x0)}" y="{_c(y)}" width="{_c(max(x1 - x0, 0.5))}" '
                        f'height="{_c(bar - 1)}" fill="{PALETTE[i % len(PALETTE)]}">'
                        f'<title>{esc(cat)}, {esc(s.name)}: {esc(fmt(v))}</title></rect>')
            body.append(_text(x1 + 4, y + bar - 1.5, fmt(v), size=9, fill=MUTED))
            parts.append(f"{s.name} {fmt(v)}")
        desc.append(f"{cat}: " + ", ".join(parts))
    body.append(f'<line x1="{_c(left)}" y1="{_c(top)}" x2="{_c(left)}" y2="{_c(base)}" stroke="{MUTED}"/>')
    body.append(_axis_title(x_label, left + (width - left - right) / 2, height - 8))
    return _figure(chart_id, title, "; ".join(desc), caption, width, height, body)


def bar_chart(chart_id: str, caption: str, x_labels: Sequence, series: Sequence[Series], *, x_label: str,
              y_label: str, stacked: bool | None = None, title: str | None = None, width: float = 680,
              height: float = 320) -> str:
    """Vertical bars per category, one series each, side by side (or stacked when there are many)."""
    title = title or caption
    labels = [str(v) for v in x_labels]
    n, k = len(labels), len(series)
    if not n or not k:
        return _empty(chart_id, title, caption)
    if stacked is None:
        stacked = n * k > 40
    left, right = 72, 24
    items = [(s.name, PALETTE[i % len(PALETTE)], "box") for i, s in enumerate(series)]
    legend, legend_y = _legend(items, left, 18, width - right)
    top = legend_y + 18
    plot_w = width - left - right
    base = height - 28 - _x_band_height(labels, plot_w)
    vals = [[_num(v) or 0.0 for v in s.values] + [0.0] * (n - len(s.values)) for s in series]
    totals = [sum(max(col[j], 0.0) for col in vals) for j in range(n)]
    scale = _Scale(totals if stacked else [v for col in vals for v in col], base, top)
    slot = plot_w / n
    group = slot * 0.8
    bw = group if stacked else group / k
    body = list(legend) + _y_axis(scale, left, left, width - right)
    body.append(f'<line x1="{_c(left)}" y1="{_c(base)}" x2="{_c(width - right)}" y2="{_c(base)}" stroke="{MUTED}"/>')
    desc = []
    for j, label in enumerate(labels):
        gx = left + slot * j + (slot - group) / 2
        acc = 0.0
        parts = []
        for i, s in enumerate(series):
            v = vals[i][j]
            parts.append(f"{s.name} {_fmt_value(v)}")
            if v <= 0:
                continue
            if stacked:
                y1, y0 = scale(acc), scale(acc + v)
                x = gx
                acc += v
            else:
                y1, y0 = scale(0.0), scale(v)
                x = gx + i * bw
            body.append(f'<rect class="bar" x="{_c(x)}" y="{_c(y0)}" width="{_c(max(bw - 1, 0.5))}" '
                        f'height="{_c(max(y1 - y0, 0.5))}" fill="{PALETTE[i % len(PALETTE)]}">'
                        f"<title>{esc(label)}, {esc(s.name)}: {esc(_fmt_value(v))}</title></rect>")
            text = _fmt_value(v)
            if not stacked and bw >= len(text) * 5.6 + 2:
                body.append(_text(x + bw / 2, y0 - 4, text, anchor="middle", size=10, fill=MUTED))
        desc.append(f"{label}: " + ", ".join(parts))
    body += _x_labels(labels, [left + slot * (j + 0.5) for j in range(n)], base, plot_w)
    body.append(_axis_title(x_label, left + plot_w / 2, height - 6))
    body.append(_axis_title(y_label, 16, top + (base - top) / 2, vertical=True))
    return _figure(chart_id, title, "; ".join(desc), caption, width, height, body)


def histogram(chart_id: str, caption: str, values: Sequence[float], *, x_label: str, y_label: str = "count",
              max_bins: int = 30, title: str | None = None, width: float = 680, height: float = 300) -> str:
    """Counts of values per bin: one bin per integer when the range is small, else equal-width bins.

    Only bins with at least one value get a bar."""
    title = title or caption
    vals = [v for v in (_num(x) for x in values) if v is not None]
    if not vals:
        return _empty(chart_id, title, caption)
    lo, hi = min(vals), max(vals)
    integers = all(float(v).is_integer() for v in vals)
    if integers and hi - lo + 1 <= max_bins:
        edges = [lo + i for i in range(int(hi - lo) + 2)]
        labels = [f"{int(e):,}" for e in edges[:-1]]
    else:
        bins = max_bins if hi > lo else 1
        step = (hi - lo) / bins or 1.0
        if integers:
            step = math.ceil(step)
            bins = int((hi - lo) // step) + 1
        edges = [lo + i * step for i in range(bins + 1)]
        edges[-1] = max(edges[-1], hi)
        labels = [f"{int(a):,}-{int(b) - 1 if integers else b:,}" if integers else f"{a:.3g}-{b:.3g}"
                  for a, b in zip(edges[:-1], edges[1:])]
    counts = [0] * (len(edges) - 1)
    for v in vals:
        i = min(int((v - edges[0]) // (edges[1] - edges[0])), len(counts) - 1)
        counts[i] += 1
    left, right, top = 64, 24, 16
    plot_w = width - left - right
    base = height - 28 - _x_band_height(labels, plot_w)
    scale = _Scale(counts, base, top)
    slot = plot_w / len(counts)
    body = _y_axis(scale, left, left, width - right)
    body.append(f'<line x1="{_c(left)}" y1="{_c(base)}" x2="{_c(width - right)}" y2="{_c(base)}" stroke="{MUTED}"/>')
    for i, (label, c) in enumerate(zip(labels, counts)):
        if not c:
            continue
        x, y = left + slot * i + 1, scale(c)
        body.append(f'<rect class="bar" x="{_c(x)}" y="{_c(y)}" width="{_c(max(slot - 2, 0.5))}" '
                    f'height="{_c(max(base - y, 0.5))}" fill="{PALETTE[0]}"><title>{esc(label)}: {c:,}</title></rect>')
        if slot >= len(f"{c:,}") * 5.6 + 2:
            body.append(_text(x + slot / 2 - 1, y - 4, f"{c:,}", anchor="middle", size=10, fill=MUTED))
    body += _x_labels(labels, [left + slot * (i + 0.5) for i in range(len(counts))], base, plot_w)
    body.append(_axis_title(x_label, left + plot_w / 2, height - 6))
    body.append(_axis_title(y_label, 16, top + (base - top) / 2, vertical=True))
    desc = ", ".join(f"{label}: {c:,}" for label, c in zip(labels, counts) if c)
    return _figure(chart_id, title, desc, caption, width, height, body)


def _short_value(v: float) -> str:
    """A value label on a chart: integers with separators, others with 3 significant digits."""
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"


def _fmt_value(v) -> str:
    """A data value for labels: integers with separators, small numbers with 4 significant digits."""
    f = _num(v)
    if f is None:
        return "n/a"
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    if abs(f) >= 100:
        return f"{f:,.1f}"
    return f"{f:.4g}"
