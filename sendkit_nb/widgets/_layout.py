"""The dashboard's widget tree: every picker, card, panel and figure, and where each sits.

Nothing here reacts to anything: :mod:`sendkit_nb.widgets._controls` wires the pickers to the
dashboard's actions, :mod:`sendkit_nb.widgets._refresh` fills the cards, charts and table.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from sendkit_nb import charts
from sendkit_nb._schema import LEAD_STATUSES
from sendkit_nb.metrics._definitions import DENOMINATORS, METRICS
from sendkit_nb.widgets._figure import LiveFigure
from sendkit_nb.widgets._html import KPIS, chart_placeholder, kpi_card, message_html
from sendkit_nb.widgets._state import SORT_KEYS, Selection

__all__ = [
    "FIGURES",
    "FIGURE_HEIGHT",
    "STAGES",
    "WINDOWS",
    "DashboardLayout",
    "close_tree",
]

#: The dashboard's charts, in display order: key -> title of its panel.
FIGURES: dict[str, str] = {
    "funnel": "Step funnel",
    "rates": "Rates per step",
    "variants": "A/B variants",
    "reply_curve": "Time to reply",
    "daily": "Daily activity",
    "status": "Lead status (whole campaign)",
    "ai_tags": "AI tags",
    "campaigns": "Campaign comparison",
}

#: The date window picker's choices: label -> ``since`` ("" = all time). A window set from
#: code that is none of these shows as an extra "custom" choice (see ``Controls``).
WINDOWS: dict[str, str] = {
    "All time": "",
    "Last 7 days": "7d",
    "Last 30 days": "30d",
    "Last 90 days": "90d",
}

#: Height of every chart (and of its placeholder), in px.
FIGURE_HEIGHT = 340

#: The loading stages the progress bar steps through (see :mod:`._feedback`).
STAGES = ("campaigns", "leads", "metrics", "charts", "done")


class DashboardLayout:
    """The widgets of one dashboard, built once; ``widget`` is the root container.

    ``selection`` gives the pickers their first values; ``figure_width`` (px, None to fill
    the output area) sizes the figures and their placeholders; ``demo`` shows the banner that
    says the data is synthetic; ``refresh_tip`` is the Refresh button's tooltip, and
    ``refresh_enabled`` False disables it (a store opened without a client).
    """

    def __init__(
        self,
        selection: Selection,
        *,
        figure_width: int | None,
        demo: bool,
        refresh_tip: str = "Reload the campaigns list and the current campaign from the API",
        refresh_enabled: bool = True,
    ) -> None:
        self.figure_width = figure_width
        self._refresh_tip = refresh_tip
        self._refresh_enabled = refresh_enabled
        self.banner = widgets.HTML(
            message_html(
                "Demo API: synthetic data. Set SENDKIT_API_KEY to see your own campaigns.",
                "demo",
            )
            if demo
            else ""
        )
        self.message = widgets.HTML("")
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=len(STAGES) - 1,
            bar_style="info",
            layout=widgets.Layout(width="160px", visibility="hidden"),
        )
        self.progress_text = widgets.HTML("")
        self._build_pickers(selection)
        self._build_charts()
        self._build_bottom(selection)
        self.widget = self._assemble()
        self.show_variant_panel(selection.by_variant)

    def _build_pickers(self, selection: Selection) -> None:
        self.campaign_search = widgets.Text(
            placeholder="Search campaigns by name",
            description="Search",
            continuous_update=True,
            layout=widgets.Layout(width="260px"),
        )
        self.campaign_picker = widgets.Dropdown(
            options=[],
            value=None,
            description="Campaign",
            layout=widgets.Layout(width="440px"),
        )
        # Classes for the page (and the browser test) to find each picker by what it is,
        # not by its position among widgets of the same kind.
        self.campaign_picker.add_class("sk-campaign-picker")
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip=self._refresh_tip,
            disabled=not self._refresh_enabled,
        )
        self.status_picker = widgets.SelectMultiple(
            options=[(status, status) for status in LEAD_STATUSES],
            value=list(selection.statuses),
            rows=len(LEAD_STATUSES),
            description="Status",
            layout=widgets.Layout(width="260px"),
        )
        self.status_picker.add_class("sk-status-picker")
        self.clear_statuses_button = widgets.Button(
            description="All statuses",
            tooltip="Clear the status filter: every lead of the campaign",
            layout=widgets.Layout(width="120px"),
        )
        self.denominator_picker = widgets.ToggleButtons(
            options=list(DENOMINATORS),
            value=selection.denominator,
            description="Rates over",
            tooltips=[
                "open, click, reply, positive rates over delivered (default)",
                "rates over leads sent the step",
                "click, reply, positive rates over opens (directional)",
            ],
            style={"button_width": "90px"},
        )
        self.metric_picker = widgets.ToggleButtons(
            options=list(METRICS),
            value=selection.metric,
            description="A/B metric",
            style={"button_width": "80px"},
        )
        self.variant_toggle = widgets.ToggleButton(
            value=selection.by_variant,
            description="Split by variant",
            icon="columns",
            tooltip="Show A/B variants: the variant chart and one reply curve per variant",
        )
        # The campaign on show and the status filter in force, above the numbers they qualify:
        # the filter stays when another campaign is opened, so it must never be out of sight.
        self.campaign_header = widgets.HTML("")
        self.header_clear_button = widgets.Button(
            description="Show all statuses",
            tooltip="Clear the status filter: every lead of the campaign",
            layout=widgets.Layout(width="150px", display="none"),
        )
        # Beside the header, which says what the window is: like the status filter, the window
        # qualifies every number below it.
        self.window_picker = widgets.Dropdown(
            options=list(WINDOWS.items()),
            value="" if selection.since is None and selection.until is None else None,
            description="Window",
            tooltip="Count only the emails sent in this window (and the replies to them); "
            "relative windows count back from when the data was pulled",
            layout=widgets.Layout(width="220px"),
        )
        self.window_picker.add_class("sk-window-picker")
        self.kpis: dict[str, widgets.HTML] = {key: widgets.HTML(kpi_card(key, {})) for key in KPIS}

    def _build_charts(self) -> None:
        # The theme is set once, when the widget is made (so it reaches the browser with the
        # figure): update_figure copies everything but the template, which is the same for
        # every chart and costly to copy on each refresh.
        self.figures: dict[str, LiveFigure] = {
            key: LiveFigure(
                layout={
                    "template": charts.TEMPLATE,
                    "height": FIGURE_HEIGHT,
                    "width": self.figure_width,
                    "title": {"text": title},
                }
            )
            for key, title in FIGURES.items()
        }
        # Until a chart has data its panel shows a placeholder, and its figure is not sent to
        # the browser at all: it goes there with its first data (see LiveFigure).
        self.placeholders: dict[str, widgets.HTML] = {
            key: widgets.HTML(chart_placeholder(title, FIGURE_HEIGHT, self.figure_width))
            for key, title in FIGURES.items()
        }
        # Column boxes: their child is stretched to the panel's width. In a row (a Box's
        # default) it would be at least as wide as its content, so a plot drawn wider than the
        # output area (at plotly's 700 px default, before it is on the page) would keep its
        # panel that wide, and the plot could never shrink to fit.
        self.panels: dict[str, widgets.Box] = {
            key: widgets.Box(
                [placeholder],
                layout=widgets.Layout(flex_flow="column", width="100%", overflow="auto"),
            )
            for key, placeholder in self.placeholders.items()
        }
        self.compare_picker = widgets.SelectMultiple(
            options=[],
            value=[],
            rows=6,
            description="Compare",
            layout=widgets.Layout(width="440px"),
        )
        self.compare_picker.add_class("sk-compare-picker")
        self.compare_all_button = widgets.Button(
            description="All campaigns",
            tooltip="Compare every campaign of the list (loads those not loaded yet)",
            layout=widgets.Layout(width="120px"),
        )
        self.comparison_note = widgets.HTML("")

    def _build_bottom(self, selection: Selection) -> None:
        self.sort_picker = widgets.Dropdown(
            options=list(SORT_KEYS),
            value=selection.sort_by,
            description="Sort by",
            layout=widgets.Layout(width="220px"),
        )
        self.descending_toggle = widgets.Checkbox(
            value=selection.descending, description="Descending", indent=False
        )
        self.table = widgets.HTML("")
        self.export_path = widgets.Text(
            value="sendkit-report.html", description="Report", layout=widgets.Layout(width="340px")
        )
        self.export_button = widgets.Button(
            description="Export HTML",
            icon="download",
            tooltip="Write a self-contained offline HTML report of the selection",
        )
        self.export_result = widgets.HTML("")
        # The senders: loaded from the API only when the section is opened (it is a request
        # of its own, and workspace-wide rather than about the campaign on show).
        self.senders_note = widgets.HTML("")
        self.senders_figure = LiveFigure(
            layout={
                "template": charts.TEMPLATE,
                "height": FIGURE_HEIGHT,
                "width": self.figure_width,
            }
        )
        self.senders_panel = widgets.Box(
            [widgets.HTML(chart_placeholder("Senders", FIGURE_HEIGHT, self.figure_width))],
            layout=widgets.Layout(flex_flow="column", width="100%", overflow="auto"),
        )
        self.senders = widgets.Accordion(
            children=[widgets.VBox([self.senders_note, self.senders_panel])],
            selected_index=None,
        )
        self.senders.set_title(0, "Senders (sending mailboxes, whole workspace)")
        self.senders.add_class("sk-senders")

    def _assemble(self) -> widgets.VBox:
        root = widgets.VBox(
            [
                widgets.HTML("<h3 style='margin:4px 0'>SendKit campaigns</h3>"),
                self.banner,
                self.message,
                widgets.HBox([self.progress, self.progress_text]),
                widgets.HBox([self.campaign_search, self.campaign_picker, self.refresh_button]),
                widgets.HBox(
                    [
                        widgets.VBox([self.status_picker, self.clear_statuses_button]),
                        widgets.VBox(
                            [self.denominator_picker, self.metric_picker, self.variant_toggle],
                            layout=widgets.Layout(margin="0 0 0 16px"),
                        ),
                    ]
                ),
                widgets.HBox(
                    [self.campaign_header, self.header_clear_button, self.window_picker],
                    layout=widgets.Layout(align_items="center"),
                ),
                widgets.HBox(list(self.kpis.values()), layout=widgets.Layout(flex_flow="row wrap")),
                # One chart per row, each as wide as the output area: the charts' titles and
                # footnotes are laid out for at least about 800 px.
                widgets.VBox(self._chart_rows(), layout=widgets.Layout(width="100%")),
                self.senders,
                widgets.HBox([self.sort_picker, self.descending_toggle]),
                self.table,
                widgets.HBox([self.export_path, self.export_button]),
                self.export_result,
            ],
            layout=widgets.Layout(width="auto"),
        )
        root.add_class("sendkit-dashboard")
        return root

    def _chart_rows(self) -> list[widgets.Widget]:
        """The chart panels in display order, the comparison's pickers above its chart."""
        rows: list[widgets.Widget] = []
        for key, panel in self.panels.items():
            if key == "campaigns":
                pickers = widgets.HBox(
                    [self.compare_picker, self.compare_all_button],
                    layout=widgets.Layout(align_items="flex-start"),
                )
                rows.append(widgets.VBox([pickers, self.comparison_note, panel]))
            else:
                rows.append(panel)
        return rows

    def show_variant_panel(self, show: bool) -> None:
        self.panels["variants"].layout.display = None if show else "none"

    def show_senders(self) -> None:
        """Put the senders' figure into its panel in place of the placeholder."""
        if not any(child is self.senders_figure for child in self.senders_panel.children):
            self.senders_panel.children = (self.senders_figure,)

    def show_figure(self, key: str) -> None:
        """Put the figure into its panel (which sends it to the browser, whole, the first
        time) in place of the placeholder or of the figure it replaces, and close that one."""
        panel = self.panels[key]
        figure = self.figures[key]
        shown = panel.children
        # By identity: plotly figures compare equal when their contents do.
        if len(shown) == 1 and shown[0] is figure:
            return
        panel.children = (figure,)
        for old in shown:
            if isinstance(old, LiveFigure):
                old.close()

    def shown_figures(self) -> list[dict[str, Any]]:
        """The figures on show (their panel visible and holding the figure, not its
        placeholder), as plotly figure dicts in display order; the senders' last, when their
        section is open and loaded."""
        shown = [
            self.figures[key].to_dict()
            for key, panel in self.panels.items()
            # By identity (figures compare by contents): the panel shows the figure, not its
            # placeholder.
            if panel.layout.display != "none"
            and any(child is self.figures[key] for child in panel.children)
        ]
        if self.senders.selected_index == 0 and any(
            child is self.senders_figure for child in self.senders_panel.children
        ):
            shown.append(self.senders_figure.to_dict())
        return shown

    def close(self) -> None:
        """Close every widget of the tree, and the figures and placeholders not in it."""
        close_tree(self.widget)
        # Those not on show: figures never sent, placeholders replaced by their figure.
        for widget in [*self.figures.values(), *self.placeholders.values(), self.senders_figure]:
            widget.close()


def close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (``Widget.close_all`` would close every widget
    of the kernel, the user's own included)."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()
