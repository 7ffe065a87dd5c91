"""The one look every chart shares: the Okabe–Ito palette as a registered plotly template.

Okabe & Ito's eight colours stay distinguishable under the common colour-vision deficiencies,
so a funnel stage, a rate and a variant keep one recognisable colour in every chart, the
dashboard and the HTML report. Colours never carry meaning alone: the opens are also hatched,
the too-small arms also faded and labelled, and every trace is named.
"""

from __future__ import annotations

from typing import Final

import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "COLORWAY",
    "EVENT_COLORS",
    "OPENS_PATTERN",
    "PALETTE",
    "STATUS_COLORS",
    "TEMPLATE",
    "THEME",
    "rgba",
]

#: Okabe–Ito (2008), plus the grey that usually accompanies it for "neutral".
PALETTE: Final[dict[str, str]] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

#: Trace colour order for charts whose series are data (campaigns, variants, curve groups).
#: Yellow and black come last: yellow is faint on white, black reads as "bounced" elsewhere.
COLORWAY: Final[tuple[str, ...]] = (
    PALETTE["blue"],
    PALETTE["orange"],
    PALETTE["bluish_green"],
    PALETTE["vermillion"],
    PALETTE["reddish_purple"],
    PALETTE["sky_blue"],
    PALETTE["yellow"],
    PALETTE["black"],
)

#: One colour per funnel stage / rate, the same in every chart.
EVENT_COLORS: Final[dict[str, str]] = {
    "sent": PALETTE["blue"],
    "delivered": PALETTE["sky_blue"],
    "opened": PALETTE["orange"],
    "clicked": PALETTE["reddish_purple"],
    "replied": PALETTE["bluish_green"],
    "positive": PALETTE["vermillion"],
    "bounced": PALETTE["black"],
}

#: Lead statuses: "good" outcomes green, dead ends dark, the rest neutral blues and greys.
STATUS_COLORS: Final[dict[str, str]] = {
    "pending": PALETTE["sky_blue"],
    "active": PALETTE["blue"],
    "paused": PALETTE["yellow"],
    "completed": PALETTE["grey"],
    "bounced": PALETTE["black"],
    "unsubscribed": PALETTE["reddish_purple"],
    "replied": PALETTE["bluish_green"],
    "removed": "#CCCCCC",
    "failed": PALETTE["vermillion"],
}

#: Hatching that marks open numbers as directional wherever they are drawn as bars.
OPENS_PATTERN: Final = "/"

#: The registered template name: ``plotly.io.templates["sendkit"]``.
THEME: Final = "sendkit"

_FONT = "Inter, 'Segoe UI', 'Helvetica Neue', Helvetica, Arial, sans-serif"
_GRID = "#E6E6E6"
_TEXT = "#222222"


def _build_template() -> go.layout.Template:
    # Start from plotly_white (clean axes, no grey plot background) and override what matters;
    # the rest of its defaults (colour scales, polar, geo) are harmless and keep 3rd-party
    # charts that reuse the template looking sane.
    base = pio.templates["plotly_white"]
    template = go.layout.Template(base)
    axis = {
        "gridcolor": _GRID,
        "linecolor": "#BBBBBB",
        "zerolinecolor": "#BBBBBB",
        "ticks": "outside",
        "tickcolor": "#BBBBBB",
        "automargin": True,
        "title": {"standoff": 10, "font": {"size": 12}},
    }
    template.layout.update(
        colorway=list(COLORWAY),
        font={"family": _FONT, "size": 13, "color": _TEXT},
        title={"x": 0.0, "xanchor": "left", "font": {"size": 17}},
        xaxis=axis,
        yaxis=axis,
        legend={
            "orientation": "h",
            "x": 0.0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "font": {"size": 12},
        },
        hoverlabel={"bgcolor": "white", "font": {"size": 12, "family": _FONT}, "align": "left"},
        hovermode="closest",
        bargap=0.2,
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    return template


#: The template object itself; every chart sets ``layout.template`` to it.
TEMPLATE: Final = _build_template()
# Registered so that analysts can use it for their own figures ("template='sendkit'"). The
# charts assign the object, not the name, so they keep working if someone replaces the entry.
pio.templates[THEME] = TEMPLATE


def rgba(hex_color: str, alpha: float) -> str:
    """``"#0072B2"`` -> ``"rgba(0,114,178,0.2)"``: a see-through fill of a palette colour.

    >>> rgba("#0072B2", 0.2)
    'rgba(0,114,178,0.2)'
    """
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha:g})"
