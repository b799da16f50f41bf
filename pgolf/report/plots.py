"""PNG plots drawn with matplotlib (the optional ``plots`` extra), imported only when drawing.

Figures are drawn on matplotlib's Agg canvas without pyplot (no global state, no display) and
written to a temporary name, then renamed. Sizes are fixed (``CURVES_SIZE``, ``BOARD_SIZE`` in
pixels at ``DPI``), so a plot's pixel size does not depend on its contents.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from pgolf.io import atomic_write
from pgolf.errors import PgolfError

INSTALL = "pip install 'pgolf[plots]'"
DPI = 100
CURVES_SIZE = (1400, 900)  # pixels
BOARD_SIZE = (1400, 800)
MIN_Y_SPAN = 0.1  # the smallest y range a curves panel shows (loss or bpb)
NAME_CHARS = 32  # record names longer than this are shortened on the leaderboard plot


def _figure(size: tuple[int, int]):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PgolfError(f"plotting needs matplotlib, which is not installed: {INSTALL}") from None
    return Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")


def _save(fig, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    atomic_write(path, buf.getvalue())
    return Path(path)


def curves_png(runs, path: str | Path, title: str | None = None) -> Path:
    """Train loss and val_bpb of ``runs`` (``report.curves.RunCurves``) against steps and against
    training time, one line per run; a star marks the artifact's score from ``summary.json``."""
    from pgolf.report.curves import labels

    if not runs:
        raise PgolfError("plot: no runs to draw")
    fig = _figure(CURVES_SIZE)
    axes = fig.subplots(2, 2, sharex="col")  # the val panels share the train panels' x range
    names = labels(runs)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    for run, label, color in zip(runs, names, colors):
        if isinstance(run.summary.get("val_bpb"), (int, float)):
            label += f": val_bpb {run.summary['val_bpb']:.4f}"
        for col, x in ((0, 0), (1, 1)):  # column 0: steps, column 1: seconds
            if run.train:
                axes[0][col].plot([r[x] for r in run.train], [r[2] for r in run.train], color=color, lw=1.2,
                                  label=label if col == 0 else None)
            if run.val:
                axes[1][col].plot([r[x] for r in run.val], [r[2] for r in run.val], color=color, lw=1.5,
                                  marker="o", ms=4, zorder=3, label=None if run.train else label)
            final = run.summary.get("val_bpb")
            if isinstance(final, (int, float)) and (run.val or run.train):
                last = (run.val or run.train)[-1]
                # under the in-training dots: the last one is often within a hair of the star
                axes[1][col].plot([last[x]], [final], color=color, marker="*", ms=13, ls="none", alpha=0.6, zorder=2)
                if len(runs) == 1:  # with several runs the values are in the legend
                    axes[1][col].annotate(f"{final:.4f}", (last[x], final), xytext=(-8, 8),
                                          textcoords="offset points", ha="right", fontsize=9, color=color)
    for row, what in ((0, "train loss (nats per token)"), (1, "val_bpb (bits per byte)")):
        for col, xlabel in ((0, "step"), (1, "training time (s)")):
            ax = axes[row][col]
            ax.set_xlabel(xlabel)
            ax.tick_params(labelbottom=True)  # shared x: keep the numbers on the upper panels too
            ax.set_ylabel(what)
            ax.grid(True, alpha=0.3)
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
            low, high = ax.get_ylim()
            if high - low < MIN_Y_SPAN:  # one or two close points: do not zoom into the 4th decimal
                mid = (low + high) / 2
                ax.set_ylim(mid - MIN_Y_SPAN / 2, mid + MIN_Y_SPAN / 2)
        axes[row][0].set_title(f"{what.split(' (')[0]} vs step")
        axes[row][1].set_title(f"{what.split(' (')[0]} vs training time")
    fig.suptitle(title or ("training curves: " + (runs[0].name if len(runs) == 1 else f"{len(runs)} runs"))
                 + "   (line: during training, star: the exported artifact's score)", fontsize=13)
    fig.legend(loc="outside lower center", ncol=min(len(runs), 2), fontsize=9, frameon=False)
    return _save(fig, path)


def best_over_time_png(records: list[dict], best: list[dict], path: str | Path, title: str | None = None) -> Path:
    """Every dated record (grey) and the best score so far (a step line). Each new best is
    numbered on the plot and listed beside it with its value, date and name. ``records`` and
    ``best`` are leaderboard rows with ``date`` (YYYY-MM-DD), ``name`` and ``val_bpb``."""
    if not records or not best:
        raise PgolfError("leaderboard: no dated records to plot")
    fig = _figure(BOARD_SIZE)
    ax, side = fig.subplots(1, 2, width_ratios=[2.1, 1])

    def day(r):
        return dt.date.fromisoformat(r["date"])

    ax.scatter([day(r) for r in records], [r["val_bpb"] for r in records], s=18, color="0.65",
               label=f"all records ({len(records)})", zorder=2)
    last_day = max(day(r) for r in records)
    xs, ys = [day(r) for r in best] + [last_day], [r["val_bpb"] for r in best] + [best[-1]["val_bpb"]]
    ax.step(xs, ys, where="post", color="C0", lw=2, label="best so far", zorder=3)
    ax.scatter(xs[:-1], ys[:-1], s=40, color="C3", label=f"new best ({len(best)}), numbered", zorder=4)
    for i, r in enumerate(best, 1):
        ax.annotate(str(i), (day(r), r["val_bpb"]), xytext=(-4, 7 if i % 2 else -13), textcoords="offset points",
                    fontsize=8, color="C3", ha="right")
    ax.set_title(title or f"Best val_bpb over time: {best[0]['val_bpb']:.4f} to {best[-1]['val_bpb']:.4f}, "
                          f"{len(best)} new bests")
    ax.set_xlabel("record date")
    ax.set_ylabel("val_bpb (bits per byte, lower is better)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right")
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")

    side.axis("off")
    side.set_title("new bests: val_bpb, date, name", loc="left")
    size = min(9.0, 560 / len(best))
    for i, r in enumerate(best, 1):
        name = str(r["name"])
        name = name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
        side.text(0, 1 - (i - 0.5) / max(len(best), 12), f"{i:>2}  {r['val_bpb']:.4f}  {r['date']}  {name}",
                  family="monospace", fontsize=size, va="center", transform=side.transAxes)
    return _save(fig, path)
