"""The harness's output: results.json (every figure), report.md (tables), PNG plots, and the
headline table on the terminal."""

from __future__ import annotations

import json
import math
import pathlib
from collections import Counter
from typing import Any

HEADLINE = (("substitute", 0.05, "5% subst"), ("substitute", 0.10, "10% subst"),
            ("substitute", 0.20, "20% subst"), ("greeting+token", 0.0, "greet+token"))


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x + 0.0 if abs(x) >= 0.5 * 10 ** -digits else 0.0:.{digits}f}"
    return str(x)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def headline_rows(results: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Return the headline table: target recall per engine beside false merges."""
    header = ["engine"] + [h for _, _, h in HEADLINE] + ["false merges", "glued pairs",
                                                         "threads glued"]
    recall = results.get("recall", {}).get("rows", [])
    merges = results.get("false_merges", {}).get("engines", {})
    engines = list(dict.fromkeys([r["engine"] for r in recall] + list(merges)))
    rows: list[list[Any]] = []
    for name in engines:
        row: list[Any] = [name]
        for kind, rate, _ in HEADLINE:
            hit = [r for r in recall if r["engine"] == name and r["kind"] == kind
                   and r["rate"] == rate]
            row.append(hit[0]["target_recall"] if hit else None)
        m = merges.get(name)
        row += [m["false_merges"], m["glued_pairs"], m["threads"]["share"]] if m else [None] * 3
        rows.append(row)
    from bench.recall import TARGETS

    rows.append(["target (recall mode)"] + [TARGETS[(k, r)] for k, r, _ in HEADLINE]
                + [0, None, None])
    return header, rows


def print_headline(results: dict[str, Any], console: Any = None) -> None:
    """Print the headline table to the terminal (rich when available)."""
    header, rows = headline_rows(results)
    try:
        from rich.console import Console
        from rich.table import Table

        t = Table(title="copy judged against its base: recall; false merges among distinct "
                  "corpus messages")
        for h in header:
            t.add_column(h, justify="left" if h == "engine" else "right")
        for row in rows:
            t.add_row(*(_f(c) for c in row))
        (console or Console()).print(t)
    except ImportError:
        print(table(header, rows))


def _recall_table(rec: dict[str, Any]) -> str:
    ks = rec["ks"]
    header = ["engine", "kind", "rate", "copy->base recall", "wrong base", "p", "sqrt(p)"]
    for k in ks:
        header += [f"R(k={k})", f"bound k={k}", f"R<bound k={k}"]
    rows = []
    for r in rec["rows"]:
        row = [r["engine"], r["kind"], r["rate"], r["target_recall"], r["wrong_base"], r["p"],
               r["sqrt_p"]]
        for k in ks:
            row += [r[f"R{k}"], r[f"bound{k}"], r[f"violations{k}"]]
        rows.append(row)
    return table(header, rows)


def markdown(results: dict[str, Any]) -> str:
    """Return report.md."""
    out = [f"# shingles bench harness report ({results['mode']} run)", "",
           f"Commit measured: `{results['commit']}`"
           + (f" (with uncommitted changes in {', '.join(results['dirty'])})"
              if results.get("dirty") else "") + "; "
           f"backend {results['backend']}; scheme `{results['scheme']}`; seed {results['seed']}; "
           f"run took {results['seconds']:.0f} s on {results['cpus']} CPU(s)."
           + (" Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + "."
              if results.get("versions") else ""), ""]
    header, rows = headline_rows(results)
    out += ["## Headline", "", "Recall: each copy judged against its base alone (a store of the "
            "bases only; Store.lookup). False merges: glued pairs of distinct corpus messages "
            "whose texts share little (estimated resemblance < 0.2) or have no min-hashes; "
            "see the false-merge section for every class.", "", table(header, rows), ""]
    if results.get("recall"):
        wrong = max(r["wrong_base"] for r in results["recall"]["rows"])
        out += [f"Copies that landed in another base's mailing: at most {wrong:.4f} of the "
                "copies of any row (engine x mutation).", ""]
    rec = results.get("recall")
    if rec:
        held = "HELD" if rec["bound_held_everywhere"] else "DID NOT HOLD"
        out += ["## Recall against the bound", "",
                f"{rec['mailings']} mailings per condition, each a base and {rec['copies']} "
                f"copies (M = {rec['copies'] + 1}); c = k / M. Per mailing: R >= R_min(p, c), "
                f"the least R with R^2 - cR + c >= p: **{held} on every mailing of every row** "
                "(the \"R<bound\" columns count the mailings where it failed). R, p and the "
                "bound are means over the mailings (the bound column is the mean of the "
                "per-mailing R_min; results.json also has R_min at the mean p, which by "
                "convexity may sit a hair above the mean R although every mailing holds). "
                "sqrt(p) is the large-mailing limit c -> 0; with M = copies + 1 it is above "
                "the exact bound.",
                "", "Mailings (k = 3) whose R falls below sqrt(p), allowed since c = 3/M > 0: "
                + "; ".join(f"{name} {sum(r < math.sqrt(p) - 1e-9 for p, r in pts)} of {len(pts)}"
                            for name, pts in rec["points"].items())
                + ". The mean R also sits below sqrt(mean p) in rows where mailings differ, "
                "sqrt being concave.",
                "", f"Bases merged with each other in the bases-only store: "
                f"{rec['merged_bases']}", "", _recall_table(rec), ""]
    tune = results.get("tuning")
    if tune:
        out += ["## Recall-mode settings tried", "",
                "Copy->base recall on the headline conditions beside false merges among the "
                "distinct corpus messages, per StoreSettings (bands x rows, threshold).", "",
                table(*headline_rows({"recall": {"rows": tune["recall"]},
                                      "false_merges": tune["false_merges"]})), ""]
    curve = results.get("curve")
    if curve:
        out += ["## The 2-of-6 curve and I-Match", "",
                f"{curve['pairs']} pairs (copies with {curve['rates']} of words substituted); "
                f"lexicon of {curve['lexicon_terms']} terms from the corpus. Chi-square of the "
                f"2-of-6 rule against P(J) over {curve['bins_fitted']} bins: "
                f"{curve['chi2']:.1f} (95% critical {curve['critical_95']:.1f}): "
                f"{'agrees' if curve['fit_agrees'] else 'DISAGREES'}.", "",
                table(["J bin", "pairs", "mean J", "measured", "P(J)", "error", "z"],
                      [[f"[{r['j_low']:.2f}, {r['j_high']:.2f})", r["pairs"], r["mean_j"],
                        r["measured"], r["expected"], r["binomial_error"], r["z"]]
                       for r in curve["two_of_six"]]), "",
                table(["J bin", "pairs", "mean J", "2-of-6", "P(J)", "I-Match K=0",
                       "I-Match K=10", "paper rule (mega or I-Match)", "pairs with signatures"],
                      [[f"[{r['j_low']:.2f}, {r['j_high']:.2f})", r["pairs"], r["mean_j"],
                        r["two_of_six"], r["p_j"], r["imatch_k0"], r["imatch_k10"],
                        r["paper_rule"], r["with_imatch_signature"]] for r in curve["imatch"]]),
                ""]
    fm = results.get("false_merges")
    if fm:
        out += ["## False merges among distinct corpus messages", "",
                f"{fm['messages']} distinct messages, {fm['pairs']} pairs.", ""]
        classes = list(next(iter(fm["engines"].values()))["by_class"])
        out.append(table(["engine", "glued pairs", "share of pairs", "messages in glued mailings"]
                         + classes + ["ham with spam", "thread posts glued / with an earlier post",
                                      "list posts glued to an earlier message"],
                         [[n, e["glued_pairs"], f"{e['share_of_pairs']:.2e}",
                           e["messages_in_glued_mailings"], *e["by_class"].values(),
                           e["ham_with_spam_pairs"],
                           f"{e['threads']['glued']} / "
                           f"{e['threads']['posts_with_earlier_thread_post']} = "
                           f"{e['threads']['share']:.3f}",
                           f"{e['threads'].get('list_posts_glued_to_an_earlier_message', 0)} / "
                           f"{e['threads'].get('list_posts', 0)} = "
                           f"{e['threads'].get('list_posts_share', 0.0):.3f}"]
                          for n, e in fm["engines"].items()]))
        for name, e in fm["engines"].items():
            out += ["", f"### {name}: glued pairs with the least resemblance", "",
                    table(["a", "b", "r", "class", "subject a", "subject b"],
                          [[x["a"], x["b"], x["r"], x["class"], x["subject_a"], x["subject_b"]]
                           for x in e["lowest_examples"]]), "", "Largest mailings: " + "; ".join(
                        f"{m['size']} x \"{m['subject']}\"" for m in e["largest_mailings"]), "",
                    "Thread posts glued: " + ("; ".join(e["threads"]["examples"]) or "none")]
        out.append("")
    sp = results.get("speed")
    if sp:
        out += ["## Speed and size", "", "Signature only (text -> signature, one core):", "",
                table(["engine", "us/message", "messages/s", "MB/s", "ours faster by"],
                      [[n, r["us_per_message"], r["messages_per_s"], r["mb_per_s"],
                        r["ours_faster_by"]] for n, r in sp["signature_only"].items()]), "",
                "Every engine on the same texts, the same rounds, the median round; MB/s "
                "from the bytes timed.", "",
                f"End to end on {sp['end_to_end_messages']} messages of the labelled stream "
                "(read + parse + sign + file/index; one fresh process each; every engine in "
                "our Session's garbage-collector regime). What differs: ours writes to disk "
                "(LMDB, durable commits), the peers keep their index in memory; the peers' "
                "index is banded LSH 21x4, the kind of our recall mode, while our paper mode "
                "keys mega-shingles:", "",
                table(["engine", "messages/s per core", "ours (paper) faster by",
                       "RSS after imports MB", "peak RSS MB", "index bytes/message"],
                      [[r["engine"], r.get("messages_per_cpu_second"),
                        r.get("ours_paper_faster_by"),
                        r.get("rss_after_imports_bytes", 0) / 2**20,
                        r.get("peak_rss_bytes", 0) / 2**20, r.get("index_bytes_per_message")]
                       if "error" not in r else [r["engine"], r["error"], "", "", "", ""]
                       for r in sp["end_to_end"]]), ""]
    eff = results.get("effectiveness")
    if eff:
        out += ["## Effectiveness over one labelled stream", "", eff["note"], "",
                table(["engine", "judge", "spam", "missed spam", "effectiveness",
                       "legit bulk", "of it called spam", "personal", "of it called spam",
                       "held"],
                      [[r["engine"], r["judge"], r["spam"], r["missed"], r["effectiveness"],
                        r["bulk_legit"], r["false_positives_bulk_legit"], r["personal"],
                        r["false_positives_personal"], r["held"]] for r in eff["rows"]]), ""]
        weekly = {k.split(" / ")[0]: v for k, v in eff.get("weekly", {}).items()
                  if k.split(" / ")[1] == PLOTTED_JUDGE}
        if weekly:
            weakest = max(weekly, key=lambda k: sum(weekly[k]))
            weeks = len(weekly[weakest])
            out += [f"Missed spam per day, weekly mean (judge {PLOTTED_JUDGE}); in brackets, "
                    f"relative to the weakest engine ({weakest}):", "",
                    table(["engine"] + [f"week {w + 1}" for w in range(weeks)],
                          [[name] + [f"{x:.1f} ({x / y:.2f})" if y else f"{x:.1f}"
                                     for x, y in zip(series, weekly[weakest])]
                           for name, series in weekly.items()]), ""]
    out += ["## Plots", ""] + [f"![{p}]({p})" for p in results.get("plots", [])] + [""]
    return "\n".join(out)


#: The judge whose missed spam the effectiveness plot shows: the engine's own verdict
#: stage with held messages rescanned (what a deployment runs).
PLOTTED_JUDGE = "engine+hold"


def plots(results: dict[str, Any], out: pathlib.Path) -> list[str]:
    """Write the PNG plots; return their file names (none when matplotlib is missing).

    Every plot has a title and a one-line caption under it; legends sit outside the axes.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed, no plots: pip install '.[bench]'")
        return []
    from bench.bench_core import p_two_of_six
    from bench.recall import TARGETS, r_min

    names: list[str] = []
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]

    def save(fig: Any, name: str, title: str, caption: str) -> None:
        fig.suptitle(title, fontsize=11)
        for ax in fig.axes:
            if ax.get_legend_handles_labels()[0]:
                legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                                   borderaxespad=0)
                for handle in legend.legend_handles:  # one size in the key, whatever the points'
                    if hasattr(handle, "set_sizes"):
                        handle.set_sizes([30])
        fig.text(0.01, 0.01, caption, fontsize=8, ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.07, 1, 0.95))
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        names.append(name)

    rec = results.get("recall")
    if rec:
        engines = list(rec["points"])
        m = rec["copies"] + 1
        grid = [i / 400 for i in range(401)]
        fig, ax = plt.subplots(figsize=(9, 5.5))
        # Mailings of one size give few distinct (p, R): each is drawn once with its area
        # by count, and each engine a little to the side, so no engine hides another.
        for n, (colour, name) in enumerate(zip(colours * 4, engines)):
            counts = Counter((round(p, 4), round(r, 4)) for p, r in rec["points"][name])
            shift = (n - (len(engines) - 1) / 2) * 0.008
            ax.scatter([math.sqrt(p) + shift for p, _ in counts], [r for _, r in counts],
                       s=[10 + 12 * math.sqrt(c) for c in counts.values()], alpha=0.55,
                       color=colour,
                       marker="osD^v<>"[n % 7], label=name, edgecolors="none")
        ax.plot([math.sqrt(p) for p in grid], [math.sqrt(p) for p in grid], "k--",
                label="R = sqrt(p) (large mailings)")
        ax.plot([math.sqrt(p) for p in grid], [r_min(p, 3 / m) for p in grid], "r-",
                label=f"bound R_min(p, c), c = 3/{m}")
        ax.set(xlabel="sqrt(p)", ylabel="recall R (share in clusters of >= 3)",
               xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        save(fig, "recall_vs_sqrt_p.png", "Recall against the sqrt(p) bound, one point a mailing",
             f"p: share of a mailing's message pairs the engine put in one cluster; R: share of "
             f"its {m} messages in clusters of >= 3; c = 3/{m}. Points on or above the red "
             "curve keep the bound; size grows with the mailings at a point; engines offset sideways.")

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for colour, name in zip(colours * 4, engines):
            rows = sorted((r["rate"], r["target_recall"]) for r in rec["rows"]
                          if r["engine"] == name and r["kind"] == "substitute")
            ax.plot([x for x, _ in rows], [y for _, y in rows], "o-", color=colour, label=name)
        pts = [(r, v) for (k, r), v in TARGETS.items() if k == "substitute"]
        ax.plot([x for x, _ in pts], [y for _, y in pts], "k^", markersize=9,
                label="target (recall mode)")
        ax.set(xlabel="share of words substituted", ylabel="copy -> base recall",
               ylim=(-0.02, 1.05))
        save(fig, "recall_by_rate.png", "Copy -> base recall by share of words substituted",
             "Each copy looked up in a store holding only the bases; recall = share found in "
             "their own base's mailing.")
    curve = results.get("curve")
    if curve:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        bins = curve["imatch"]
        xs = [b["mean_j"] for b in bins]
        grid = [i / 200 for i in range(201)]
        ax.plot(grid, [p_two_of_six(j) for j in grid], "k-", label="P(J) = 2 of 6")
        errors = [math.sqrt(max(b["p_j"] * (1 - b["p_j"]), 1e-9) / b["pairs"]) for b in bins]
        ax.errorbar(xs, [b["two_of_six"] for b in bins], yerr=errors, fmt="o",
                    label="2 of 6 measured")
        ax.plot(xs, [b["imatch_k0"] for b in bins], "s--", label="I-Match K=0")
        ax.plot(xs, [b["imatch_k10"] for b in bins], "d--", label="I-Match K=10")
        ax.plot(xs, [b["paper_rule"] for b in bins], "^:", label="mega or I-Match K=10")
        ax.set(xlabel="Jaccard resemblance J of the shingle sets", ylabel="share of pairs matched")
        save(fig, "two_of_six.png", "The 2-of-6 rule and I-Match against resemblance",
             "Pairs of a corpus text and a copy with words substituted, binned by exact J; "
             "error bars: binomial, around P(J).")
    sp = results.get("speed")
    if sp:
        rows = [r for r in sp["end_to_end"] if "error" not in r]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.barh([r["engine"] for r in rows], [r["messages_per_cpu_second"] for r in rows])
        ax.set(xlabel="messages/s per core, end to end")
        save(fig, "speed.png", "End-to-end speed: read, parse, sign, file or index",
             f"{sp['end_to_end_messages']} stream messages, one fresh process per engine, CPU "
             "time; ours on disk (LMDB), the peers in memory.")
    eff = results.get("effectiveness")
    weekly = {k.split(" / ")[0]: v for k, v in (eff or {}).get("weekly", {}).items()
              if k.split(" / ")[1] == PLOTTED_JUDGE}
    if weekly:
        weakest = max(weekly, key=lambda k: sum(weekly[k]))
        weeks = [w + 1 for w in range(len(weekly[weakest]))]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        for colour, (name, series) in zip(colours * 4, weekly.items()):
            left.plot(weeks, series, "o-", color=colour, label=name)
            ratio = [x / y if y else float("nan") for x, y in zip(series, weekly[weakest])]
            right.plot(weeks, ratio, "o-", color=colour)
        left.set(xlabel="week", ylabel="missed spam per day (weekly mean)", xticks=weeks)
        right.set(xlabel="week", ylabel=f"relative to the weakest ({weakest})", xticks=weeks,
                  ylim=(-0.02, 1.1))
        save(fig, "missed_spam_per_day.png", "Missed spam per day, weekly mean, per engine",
             f"Judge: {PLOTTED_JUDGE} (the engine's verdicts, held messages rescanned); right: "
             "each engine's weekly mean over the weakest engine's.")
    return names


def write(results: dict[str, Any], out: pathlib.Path) -> None:
    """Write plots, results.json and report.md into out."""
    out.mkdir(parents=True, exist_ok=True)
    results["plots"] = plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out / "report.md").write_text(markdown(results))
