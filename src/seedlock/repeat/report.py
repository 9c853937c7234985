"""One self-contained HTML report of experiments: summaries, plots, comparisons, trials, a manifest.

The file needs nothing else: plots are PNGs inlined as ``data:`` URIs, the style is inline, and
there is no JavaScript. Every string that came from a user (experiment and metric names,
arguments, reasons, stderr, manifests) is escaped, so a name like ``<script>`` shows as text.

>>> from seedlock.repeat.store import Store                          # doctest: +SKIP
>>> render_html(Store(), ["baseline", "wider"], "report.html")     # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import os
import tempfile
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from seedlock.errors import SeedlockError
from seedlock.repeat.records import Experiment, Trial
from seedlock.repeat.store import Store

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 75em; color: #222; padding: 0 1em; }
h2 { margin-top: 1.8em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: top; }
td { white-space: nowrap; } th { background: #f3f3f3; vertical-align: bottom; }
td.l, th.l { text-align: left; } td.l { white-space: normal; }
.test { display: block; color: #666; font-size: 0.8em; white-space: normal; } .test.ci { white-space: nowrap; }
code, pre, td.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.875rem; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; max-height: 30em; }
.warn { color: #8a4b00; } .note { color: #555; font-size: 0.9em; } img { max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 0.5em; } .plots img { width: 32em; }
tr.failed td { background: #fff1f0; }
"""


def e(value: object) -> str:
    """``value`` as HTML text: every user-provided string goes through here."""
    return html.escape(str(value), quote=True)


class _Html(str):
    """A cell already built from escaped parts: ``_table`` leaves it as it is."""


def _p_cell(p: float | None, test: str) -> _Html:
    """A p-value with the test's name in small type under it: one narrow column, not one wide one."""
    from seedlock.repeat.summary import fmt

    return _Html(f'{e(fmt(p, 3))}<span class="test">{e(test)}</span>')


def _ci_cell(value: str, low: float | None, high: float | None) -> _Html:
    """An estimate with its confidence interval in small type under it."""
    return _Html(f'{e(value)}<span class="test ci">{e(_ci(low, high))}</span>')


def _table(
    head: Sequence[str],
    rows: Iterable[Sequence[object]],
    left: int | Collection[int] = 1,
    row_class: Sequence[str] = (),
    mono: Collection[int] = (),
) -> str:
    """An HTML table in a box that scrolls sideways when it is wider than the page. ``left``: the
    first N columns, or these column indexes, are left-aligned text; ``mono`` columns are in a
    fixed-width font. Cells are escaped here (except :class:`_Html` ones, escaped when built)."""
    lefts = set(range(left)) if isinstance(left, int) else set(left)

    def cell(tag: str, i: int, value: object) -> str:
        classes = " ".join(c for c, on in (("l", i in lefts), ("mono", i in mono)) if on)
        text = value if isinstance(value, _Html) else e(value)
        return f'<{tag} class="{classes}">{text}</{tag}>' if classes else f"<{tag}>{text}</{tag}>"

    th = "".join(cell("th", i, h) for i, h in enumerate(head))
    body = []
    for j, row in enumerate(rows):
        cls = f' class="{e(row_class[j])}"' if j < len(row_class) and row_class[j] else ""
        body.append(f"<tr{cls}>{''.join(cell('td', i, c) for i, c in enumerate(row))}</tr>")
    return f'<div class="scroll"><table><tr>{th}</tr>{"".join(body)}</table></div>'


def _ci(low: float | None, high: float | None) -> str:
    from seedlock.repeat.summary import fmt

    return "-" if low is None or high is None else f"[{fmt(low)}, {fmt(high)}]"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{e(alt)}">'


def _notes(lines: Iterable[str], cls: str = "warn") -> str:
    items = "".join(f"<li>{e(line)}</li>" for line in lines)
    return f'<ul class="{cls}">{items}</ul>' if items else ""


def _summary_table(
    store: Store, exp: Experiment, metrics: Sequence[str], confidence: float, n_boot: int
) -> str:
    from seedlock.repeat.summary import describe, fmt

    rows: list[list[object]] = []
    warnings: list[str] = []
    for metric in metrics:
        values = store.metric_values(exp, metric)
        if not values:
            rows.append([metric, 0, "not reported by any ok trial", *[""] * 7])
            continue
        try:
            s = describe(values, confidence=confidence, n_boot=n_boot)
        except SeedlockError as exc:
            rows.append([metric, len(values), str(exc), *[""] * 7])
            continue
        rows.append(
            [
                metric,
                s.n,
                fmt(s.mean),
                _ci(s.mean_ci.low, s.mean_ci.high),
                fmt(s.sd),
                fmt(s.median),
                _ci(s.median_ci.low, s.median_ci.high),
                fmt(s.iqm),
                _ci(s.iqm_ci.low, s.iqm_ci.high),
                f"{fmt(s.min)} .. {fmt(s.max)}",
            ]
        )
        warnings += [f"{metric}: {w}" for w in s.warnings]
        warnings += [
            f"{metric}: {name} CI: {ci.note}"
            for name, ci in (("median", s.median_ci), ("IQM", s.iqm_ci))
            if ci.note
        ]
    pct = f"{confidence:.0%}"
    head = [
        "metric",
        "n",
        "mean",
        f"mean {pct} CI (t)",
        "SD",
        "median",
        f"median {pct} CI",
        "IQM",
        f"IQM {pct} CI",
        "min .. max",
    ]
    return _table(head, rows, left=1) + _notes(warnings)


def _compare_table(store: Store, a: Experiment, b: Experiment, metrics: Sequence[str], n_boot: int) -> str:
    from seedlock.repeat.stats import compare_many
    from seedlock.repeat.summary import fmt

    values_a, values_b, skipped = {}, {}, []
    for metric in metrics:
        va, vb = store.metric_values(a, metric), store.metric_values(b, metric)
        if min(sum(math.isfinite(v) for v in side.values()) for side in (va, vb)) >= 3:
            values_a[metric], values_b[metric] = va, vb
        else:
            skipped.append(
                f"{metric}: not compared, it needs at least 3 ok seeds with finite values on each side "
                f"({a.name}: {len(va)}, {b.name}: {len(vb)})"
            )
    if not values_a:
        return _notes(skipped)
    results = compare_many(values_a, values_b, names=(a.name, b.name), n_boot=n_boot)
    rows, notes = [], list(skipped)
    for metric, c in results.items():
        pairing = _Html(
            f'{e(c.n_a)} / {e(c.n_b)}<span class="test">{"paired by seed" if c.paired else "unpaired"}</span>'
        )
        rows.append(
            [
                metric,
                pairing,
                fmt(c.mean_a),
                fmt(c.mean_b),
                _ci_cell(fmt(c.diff), c.diff_ci.low, c.diff_ci.high),
                _p_cell(c.t_p, c.t_test),
                fmt(c.t_p_holm, 3),
                _p_cell(c.rank_p, c.rank_test),
                fmt(c.rank_p_holm, 3),
                _p_cell(c.perm_p, "exact" if c.perm_exact else "sampled"),
                _ci_cell(fmt(c.p_gt, 3), c.p_gt_ci.low, c.p_gt_ci.high),
                fmt(c.hedges_g, 3),
            ]
        )
        notes += [f"{metric}: {n}" for n in (*c.warnings, *c.notes)]
    head = [
        "metric",
        "n",
        f"mean {a.name}",
        f"mean {b.name}",
        "difference, 95% CI",
        "t-test p",
        "Holm",
        "rank test p",
        "Holm",
        "permutation p",
        # "paired" in the n column is for the difference and the tests; these two never pair.
        "P(A>B), 95% CI (unpaired)",
        "Hedges' g (unpaired)",
    ]
    return _table(head, rows, left=1) + _notes(notes)


def _trials_section(trials: list[Trial]) -> str:
    from seedlock.repeat.summary import fmt

    placed = any(t.node for t in trials)  # a Ray run: where each trial ran
    rows = [
        [
            t.seed,
            t.status,
            "" if t.exit_code is None else t.exit_code,
            fmt(t.duration_s, 3),
            (t.fingerprint or "")[:16],
            *([t.where] if placed else []),
            t.reason or "",
        ]
        for t in trials
    ]
    out = _table(
        ["seed", "status", "exit", "duration (s)", "fingerprint", *(["node"] if placed else []), "reason"],
        rows,
        left=(1, 4, 5, 6) if placed else (1, 4, 5),
        mono=(4,),
        row_class=["" if t.status in ("ok", "running") else "failed" for t in trials],
    )
    for t in trials:
        if t.stderr_tail and t.status != "ok":
            out += f"<details><summary>stderr of seed {e(t.seed)} ({e(t.status)})</summary><pre>{e(t.stderr_tail)}</pre></details>"
    with_manifest = [t for t in trials if t.manifest] or [t for t in trials if t.manifest is not None]
    if with_manifest:
        t = next((t for t in with_manifest if t.status == "ok"), with_manifest[0])
        pretty = json.dumps(t.manifest, indent=2, sort_keys=True, default=str)
        out += f"<h3>Manifest of seed {e(t.seed)}</h3><pre>{e(pretty)}</pre>"
    return out


def _metrics_for(store: Store, exps: Sequence[Experiment], metrics: Sequence[str] | None) -> list[str]:
    known = sorted({m for exp in exps for m in store.metric_names(exp)})
    if metrics is None:
        return known
    for metric in metrics:
        if metric not in known:
            there = ", ".join(repr(m) for m in known) or "none (no trial finished ok with a metric)"
            raise SeedlockError(f"no ok trial reported metric {metric!r}; metrics there: {there}")
    return list(dict.fromkeys(metrics))


def render_html(
    store: Store,
    experiments: Sequence[str | Experiment],
    out_path: str | os.PathLike[str],
    metrics: Sequence[str] | None = None,
    *,
    confidence: float = 0.95,
    n_boot: int = 10_000,
) -> Path:
    """Write the report of ``experiments`` (the first is the baseline the others are compared with)
    to ``out_path``, and return that path. ``metrics`` defaults to every metric an ok trial reported."""
    from seedlock.repeat import plots

    if not experiments:
        raise SeedlockError("no experiment to report on; pass one or more names, see `seedlock runs`")
    out = Path(out_path)
    if not out.name or out.is_dir():  # before the work; the CLI checks more (cli.paths)
        raise SeedlockError(
            f"{str(out_path)!r} is not a file path (a directory, or no file name); "
            "pass the report's file, e.g. report.html"
        )
    exps = [x if isinstance(x, Experiment) else store.experiment(x, create=False) for x in experiments]
    names = [x.name for x in exps]
    chosen = _metrics_for(store, exps, metrics)
    parts = [
        f"<h1>seedlock report: {e(', '.join(names))}</h1>",
        f'<p class="note">Store {e(store.path)}, written {e(datetime.now(timezone.utc).isoformat(timespec="seconds"))}. '
        "Statistics use the trials that finished ok; failed ones are listed but left out.</p>",
    ]
    if len(exps) >= 2:
        parts.append("<h2>Comparisons</h2>")
        for other in exps[1:]:
            parts.append(
                f"<h3>{e(other.name)} vs {e(exps[0].name)}</h3><p>A = {e(other.name)}, B = "
                f"{e(exps[0].name)}; differences are A - B; p-values Holm-adjusted across metrics.</p>"
            )
            parts.append(_compare_table(store, other, exps[0], chosen, n_boot))
    with tempfile.TemporaryDirectory(prefix="seedlock-report-") as tmp:
        if chosen:
            parts.append("<h2>Metrics</h2>")
        for metric in chosen:
            values = {x.name: store.metric_values(x, metric) for x in exps}
            curves = {x.name: store.metric_curves(x, metric) for x in exps}
            images = "".join(
                _img(p, f"{metric} plot") for p in plots.plot_metric(values, curves, metric, tmp)
            )
            parts.append(f'<h3>{e(metric)}</h3><div class="plots">{images}</div>')
    for exp in exps:
        trials = store.trials(exp)
        counts: dict[str, int] = {}
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        command = " ".join([exp.script or "?", *exp.args])
        parts.append(f"<h2>Experiment {e(exp.name)}</h2>")
        parts.append(
            f"<p>Command: <code>{e(command)}</code>; created {e(exp.created)}; trials: "
            f"{e(', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none')}.</p>"
        )
        if exp.config:
            parts.append(
                f"<details><summary>config</summary><pre>{e(json.dumps(exp.config, indent=2, sort_keys=True))}</pre></details>"
            )
        parts.append("<h3>Summary</h3>" + _summary_table(store, exp, chosen, confidence, n_boot))
        parts.append("<h3>Trials</h3>" + _trials_section(trials))
    doc = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e("seedlock report: " + ", ".join(names))}'
        f"</title><style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
    tmp_out = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out.write_text(doc, encoding="utf-8")
        os.replace(tmp_out, out)  # a reader never sees half a report
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_out.unlink()
        raise SeedlockError(
            f"cannot write the report to {str(out)!r} ({exc.strerror or exc}); "
            "pass a path in a writable directory"
        ) from None
    return out
