"""Server-side charts of the performance figures, as SVG drawn by matplotlib (no JavaScript, no CDN).

The SVG text is made here from numbers and fixed vocabularies (class codes, sexes, sites, age bands), so
a template may embed it as is.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

_STYLE: dict[RcKeyType, Any] = {
    "font.size": 9,
    "svg.fonttype": "none",
    "svg.hashsalt": "skinclinic",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_BLUE, _RED, _GREY = "#2b6cb0", "#c53030", "#a0aec0"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype for inline use


def confusion_matrix_svg(matrix: list[list[int]], labels: list[str], *, title: str) -> str:
    """Counts, reviewed diagnosis down, predicted class across; the diagonal is agreement."""
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(4.6, 4.0))
        top = max((max(row) for row in matrix), default=0) or 1
        axes.imshow(matrix, cmap="Blues", vmin=0, vmax=top)
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        axes.set_yticks(range(len(labels)), labels)
        axes.set_xlabel("Predicted class")
        axes.set_ylabel("Reviewed diagnosis")
        axes.set_title(title)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                if count:
                    axes.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
        return _svg(figure)


def recall_bars_svg(per_class: dict[str, dict], *, title: str) -> str:
    """Recall per reviewed class with its support; classes never reviewed are left empty."""
    labels = list(per_class)
    values = [per_class[c]["recall"] or 0 for c in labels]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(4.6, 2.8))
        bars = axes.bar(labels, values, color=[_RED if c == "mel" else _BLUE for c in labels])
        for bar, cls in zip(bars, labels):
            support = per_class[cls]["support"]
            axes.annotate(
                f"n={support}" if support else "–",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
        axes.set_ylim(0, 1.1)
        axes.set_ylabel("Recall")
        axes.set_title(title)
        return _svg(figure)


def subgroup_bars_svg(rows: list[dict], *, title: str) -> str:
    """Agreement rate per subgroup (horizontal bars), each labelled with its number of images."""
    labels = [row["group"] for row in rows]
    values = [row["agreement_rate"] or 0 for row in rows]
    with plt.rc_context(_STYLE):
        figure, axes = plt.subplots(figsize=(4.6, 0.35 * max(len(rows), 2) + 0.8))
        positions = range(len(rows))
        axes.barh(list(positions), values, color=_BLUE)
        axes.set_yticks(list(positions), labels)
        axes.invert_yaxis()
        for y, row in zip(positions, rows):
            axes.annotate(
                f"{(row['agreement_rate'] or 0) * 100:.0f}% of {row['n']}",
                (values[y], y),
                va="center",
                fontsize=7,
                xytext=(3, 0),
                textcoords="offset points",
            )
        axes.set_xlim(0, 1.25)
        axes.set_xlabel("Agreement with reviewed diagnosis")
        axes.set_title(title)
        return _svg(figure)
