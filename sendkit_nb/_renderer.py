"""A plotly renderer for notebooks whose charts must survive export: ``sendkit_offline``.

plotly's own ``notebook`` renderer embeds plotly.js, but every figure it draws also carries a
``<script src="https://cdnjs.cloudflare.com/.../mathjax/...">`` tag, so an exported notebook
still reaches for the network (and logs errors offline). This renderer emits the same
``text/html`` without MathJax: plotly.js once, inline, when the renderer is activated, then one
small ``Plotly.newPlot`` script per figure. Combined with the plotly mimetype
(``plotly_mimetype+sendkit_offline``), JupyterLab draws figures from the mimetype and
``jupyter nbconvert --to html`` keeps the HTML copy, which works offline.

The dashboard's figures live in widgets; their static copy for exports is
:mod:`sendkit_nb.widgets._static`, drawn with the same plotly ``config`` (:data:`PLOT_CONFIG`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OFFLINE_RENDERER", "PLOT_CONFIG", "offline_renderer", "use_offline_renderer"]

#: The name the renderer is registered under in ``plotly.io.renderers``.
OFFLINE_RENDERER = "sendkit_offline"
#: What :func:`use_offline_renderer` makes the default.
NOTEBOOK_RENDERERS = f"plotly_mimetype+{OFFLINE_RENDERER}"

#: plotly's ``config`` for every static figure: no plotly logo, sized to its box.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def _figure_html(figure: Any) -> str:
    """One figure as an HTML fragment that draws it with the page's plotly.js (no CDN, no
    MathJax), as wide as the page."""
    from plotly.io import to_html

    html: str = to_html(
        figure,
        config=PLOT_CONFIG,
        include_plotlyjs=False,
        include_mathjax=False,
        full_html=False,
        default_width="100%",
        default_height=525,
        validate=False,
    )
    return html


def _plotlyjs_html() -> str:
    from plotly.offline import get_plotlyjs

    return (
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f"<script>{get_plotlyjs()}</script>"
    )


def offline_renderer_active() -> bool:
    """Whether ``sendkit_offline`` is (part of) plotly's default renderer: it then put plotly.js
    into the notebook when it was made the default."""
    import plotly.io as pio

    return OFFLINE_RENDERER in str(pio.renderers.default).split("+")


def offline_renderer() -> Any:
    """A new ``sendkit_offline`` renderer (a ``plotly.io.base_renderers.MimetypeRenderer``)."""
    from plotly.io.base_renderers import MimetypeRenderer

    class OfflineHTMLRenderer(MimetypeRenderer):  # type: ignore[misc]
        """``text/html`` figures for exported notebooks: plotly.js inline once, no CDN."""

        def activate(self) -> None:
            # Runs once each time the renderer becomes (part of) the default: the output of
            # the first figure's cell then holds plotly.js, and later figures reuse it.
            from IPython import display

            # IPython's display functions are untyped; the call is the documented one.
            display_html: Any = display.display_html
            display_html(_plotlyjs_html(), raw=True)

        def to_mimebundle(self, fig_dict: Any) -> dict[str, str]:
            return {"text/html": _figure_html(fig_dict)}

    return OfflineHTMLRenderer()


def use_offline_renderer() -> str:
    """Register ``sendkit_offline`` and make ``plotly_mimetype+sendkit_offline`` plotly's default
    renderer; return that name.

    Call it once at the top of a notebook whose charts should also show in its HTML export
    (``jupyter nbconvert --to html``) without a network: the notebook then holds plotly.js
    once (about 4.8 MB) in the first chart's output.
    """
    import plotly.io as pio

    pio.renderers[OFFLINE_RENDERER] = offline_renderer()
    pio.renderers.default = NOTEBOOK_RENDERERS
    return NOTEBOOK_RENDERERS
