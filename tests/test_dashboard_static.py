"""The dashboard outside a live kernel: the static copy its display carries for HTML exports,
and the front-end module that makes its figures fit their output area (no browser here: see
``test_figure_widget_browser.py`` and ``test_dashboard_browser.py`` for the drawing)."""

from __future__ import annotations

from collections.abc import Iterator

import plotly.io as pio
import pytest

import sendkit_nb as sk
from sendkit_nb._renderer import NOTEBOOK_RENDERERS, use_offline_renderer
from sendkit_nb.widgets import Dashboard
from sendkit_nb.widgets._figure import _fitting_esm

PLOTLYJS_TAG = "window.PlotlyConfig"


@pytest.fixture()
def dash(client: sk.SendKitClient) -> Iterator[Dashboard]:
    d = Dashboard(client)
    yield d
    d.close()


def test_the_display_carries_a_static_copy_with_plotlyjs_once(dash: Dashboard) -> None:
    bundle = dash._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    html = bundle["text/html"]
    # Each chart on show (the A/B chart is hidden until "Split by variant"), as a static plotly
    # figure, the KPI cards and the campaign header; plotly.js once, nothing from a CDN.
    assert html.count('class="plotly-graph-div"') == len(dash.figures) - 1
    assert html.count(PLOTLYJS_TAG) == 1
    assert "<script src=" not in html
    assert "sk-campaign-header" in html and html.count("sk-kpi") >= len(dash.kpis)

    dash.set_options(by_variant=True)
    assert dash._repr_mimebundle_()["text/html"].count('class="plotly-graph-div"') == len(
        dash.figures
    )


def test_the_static_copy_leaves_plotlyjs_to_the_offline_renderer(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The renderer put plotly.js into the notebook when it was activated.
    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)
    monkeypatch.setattr("IPython.display.display_html", lambda *a, **k: None)
    assert use_offline_renderer() == NOTEBOOK_RENDERERS
    html = dash.static_html()
    assert html.count(PLOTLYJS_TAG) == 0 and 'class="plotly-graph-div"' in html


def test_the_fitting_module_wraps_plotlys_default_export() -> None:
    bundle = "var w=1;export{A as FigureModel,B as FigureView,c as default};\n/* licenses */"
    wrapped = _fitting_esm(bundle)
    assert wrapped is not None
    assert wrapped.startswith("var w=1;")
    assert "const widget = c();" in wrapped and "B.prototype.perform_render" in wrapped
    assert wrapped.endswith(
        "export{A as FigureModel,B as FigureView,sendkitFigureWidget as default}\n/* licenses */"
    )
    # Another plotly's bundle: used as it is (its figures then keep their first width).
    assert _fitting_esm("export{A as FigureModel,c as default};") is None
    assert _fitting_esm("no module exports") is None
