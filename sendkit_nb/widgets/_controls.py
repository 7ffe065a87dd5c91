"""The dashboard's controls: each picker wired to the dashboard's action, the campaign picker
and campaign search, the status filter, and the pickers kept in step with the selection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import ipywidgets as widgets
import polars as pl

from sendkit_nb._errors import SendKitError
from sendkit_nb._present import fmt_int
from sendkit_nb._schema import LEAD_STATUSES
from sendkit_nb.metrics import WindowBound
from sendkit_nb.widgets._feedback import Feedback
from sendkit_nb.widgets._html import campaign_label
from sendkit_nb.widgets._layout import WINDOWS, DashboardLayout
from sendkit_nb.widgets._state import CampaignStore, LoadedCampaign, Screen

__all__ = ["Actions", "Controls"]

#: The window picker's value for a window set from code (none of the presets).
_CUSTOM = "custom"

#: The options of :meth:`Controls.set_options`.
OPTIONS = ("denominator", "metric", "by_variant", "sort_by", "descending")


class Actions(Protocol):
    """The dashboard's actions, which the widgets' callbacks call."""

    def search(self, text: str) -> None: ...
    def submit_search(self) -> None: ...
    def select_campaign(self, campaign_id: str) -> None: ...
    def set_statuses(self, statuses: Iterable[str]) -> None: ...
    def set_comparison(self, campaign_ids: Iterable[str]) -> None: ...
    def compare_all(self) -> None: ...
    def set_options(self, /, **options: Any) -> None: ...
    def set_window(self, since: WindowBound = None, until: WindowBound = None) -> None: ...
    def load_senders(self) -> None: ...
    def refresh(self) -> None: ...
    def export_html(self) -> object: ...


class Controls:
    """The pickers of ``ui``: what they list, what they show, and what they do."""

    def __init__(
        self, ui: DashboardLayout, store: CampaignStore, screen: Screen, feedback: Feedback
    ) -> None:
        self.ui = ui
        self.store = store
        self.screen = screen
        self.feedback = feedback

    def wire(self, actions: Actions) -> None:
        """Call ``actions`` from the widgets' callbacks."""
        ui = self.ui
        ui.campaign_search.observe(lambda ch: actions.search(ch["new"]), names="value")

        # Enter arrives as a custom message ({"event": "submit"}) from the text box; taken
        # directly, as Text.on_submit is deprecated in ipywidgets 8 (and warns when used).
        def on_message(_widget: widgets.Widget, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("event") == "submit":
                actions.submit_search()

        ui.campaign_search.on_msg(on_message)

        def on_campaign(change: Mapping[str, Any]) -> None:
            if change["new"] is not None:
                actions.select_campaign(change["new"])

        ui.campaign_picker.observe(on_campaign, names="value")
        ui.status_picker.observe(lambda ch: actions.set_statuses(ch["new"]), names="value")
        ui.clear_statuses_button.on_click(lambda _: actions.set_statuses(()))
        ui.header_clear_button.on_click(lambda _: actions.set_statuses(()))
        ui.compare_picker.observe(lambda ch: actions.set_comparison(ch["new"]), names="value")
        ui.compare_all_button.on_click(lambda _: actions.compare_all())
        pickers = self._option_pickers()
        for name in OPTIONS:
            # name=name: each callback keeps its own option.
            pickers[name].observe(
                lambda ch, name=name: actions.set_options(**{name: ch["new"]}), names="value"
            )
        ui.window_picker.observe(self._on_window(actions), names="value")

        def on_senders(change: Mapping[str, Any]) -> None:
            if change["new"] == 0:  # opened
                actions.load_senders()

        ui.senders.observe(on_senders, names="selected_index")
        ui.refresh_button.on_click(lambda _: actions.refresh())
        ui.export_button.on_click(lambda _: actions.export_html())

    def _on_window(self, actions: Actions) -> Callable[[Mapping[str, Any]], None]:
        def on_window(change: Mapping[str, Any]) -> None:
            # The "custom" choice stands for a window set from code: picking it keeps that one.
            if change["new"] is not None and change["new"] != _CUSTOM:
                actions.set_window(since=change["new"] or None)

        return on_window

    def _option_pickers(self) -> dict[str, widgets.ValueWidget]:
        ui = self.ui
        return {
            "denominator": ui.denominator_picker,
            "metric": ui.metric_picker,
            "by_variant": ui.variant_toggle,
            "sort_by": ui.sort_picker,
            "descending": ui.descending_toggle,
        }

    # -- campaigns ----------------------------------------------------------------------------

    def campaign_options(self, catalog: pl.DataFrame, text: str) -> list[tuple[str, str]]:
        """``(label, id)`` of the campaigns whose name contains ``text`` (all when blank)."""
        deleted = (
            pl.col("deleted").fill_null(False) if "deleted" in catalog.columns else pl.lit(False)
        )
        rows = catalog.select("campaign_id", "name", "status", deleted.alias("deleted"))
        if text.strip():
            rows = rows.filter(
                pl.col("name")
                .fill_null("")
                .str.to_lowercase()
                .str.contains(text.strip().lower(), literal=True)
            )
        return [
            (campaign_label(name, status, gone), cid) for cid, name, status, gone in rows.rows()
        ]

    def fill_campaign_picker(self, catalog: pl.DataFrame, text: str) -> list[tuple[str, str]]:
        """List the campaigns matching ``text`` in the picker, keeping the campaign on show
        selected (first in the list when it does not match); returns the matches."""
        matches = self.campaign_options(catalog, text)
        options = list(matches)
        current = self.screen.selection.campaign_id
        if current is not None and current not in [cid for _, cid in matches]:
            # A dropdown can only show one of its options: without this one the picker would
            # go blank (or name another campaign) while the charts still show this one.
            options.insert(0, (_label_of(catalog, current), current))
        # Refilling a Dropdown selects its first option, which would load that campaign; the
        # observer is muted by the dashboard's busy flag (every caller is a guarded action).
        self.ui.campaign_picker.options = options
        self.ui.campaign_picker.value = current
        return matches

    def refill_campaign_picker(self) -> None:
        """List the campaigns again for the search text (when the list was fetched)."""
        catalog = self.store.cached_catalog
        if catalog is not None:
            self.fill_campaign_picker(catalog, self.ui.campaign_search.value)

    def first_campaign(self) -> str | None:
        options = self.ui.campaign_picker.options
        return str(options[0][1]) if options else None

    def show_current_campaign(self) -> None:
        """Set the picker back to the campaign on show (after a pick that failed to load)."""
        if self.ui.campaign_picker.value == self.screen.selection.campaign_id:
            return
        if self.store.cached_catalog is not None:
            self.refill_campaign_picker()
        else:
            self.ui.campaign_picker.value = None

    def search(
        self, text: str, catalog: pl.DataFrame, open_campaign: Callable[[str], None]
    ) -> None:
        """Narrow the campaign picker to names containing ``text`` (of ``catalog``); a single
        match is opened (``open_campaign``)."""
        feedback = self.feedback
        matches = self.fill_campaign_picker(catalog, text)
        if not text.strip():
            feedback.done("")
            return
        if not matches:
            feedback.done(f"No campaign name contains “{text}”")
            return
        shown = self.screen.selection.campaign_id
        if len(matches) == 1:
            if matches[0][1] != shown:
                open_campaign(matches[0][1])
            else:
                feedback.done(f"1 of {catalog.height} campaigns matches “{text}”")
            return
        aside = (
            f"; {self.store.name_of(shown)}, on show, does not (kept at the top)"
            if shown is not None and shown not in [cid for _, cid in matches]
            else ""
        )
        feedback.done(
            f"{len(matches)} of {catalog.height} campaigns match “{text}”{aside}. "
            "Enter opens the first."
        )

    def submit_search(self, catalog: pl.DataFrame, open_campaign: Callable[[str], None]) -> None:
        """Open the first campaign (of ``catalog``) whose name contains the search text."""
        text = self.ui.campaign_search.value
        matches = self.fill_campaign_picker(catalog, text)
        if not matches:
            self.feedback.done(f"No campaign name contains “{text}”")
            return
        first = matches[0][1]
        if first == self.screen.selection.campaign_id:  # on show already: nothing to redo
            self.feedback.done(f"{self.store.name_of(first)} is on show")
            return
        open_campaign(first)

    # -- status filter and options ------------------------------------------------------------

    def fill_status_picker(self, loaded: LoadedCampaign) -> None:
        """Each status with its count in ``loaded``, the filter in force selected."""
        counts = dict(
            loaded.status_counts.select(pl.col("status").cast(pl.String), "leads").iter_rows()
        )
        self.ui.status_picker.options = [
            (f"{status} ({fmt_int(counts.get(status, 0))})", status) for status in LEAD_STATUSES
        ]
        # Changing the options clears a SelectMultiple; the filter carries over to the
        # campaign (the header says so).
        self.ui.status_picker.value = list(self.screen.selection.statuses)

    def set_statuses(self, statuses: tuple[str, ...]) -> None:
        """The status filter (checked) into the picker and the selection."""
        if tuple(self.ui.status_picker.value) != statuses:
            self.ui.status_picker.value = list(statuses)
        self.screen.selection = self.screen.selection.with_(statuses=statuses)

    def set_options(self, options: Mapping[str, Any]) -> None:
        """``options`` (of :data:`OPTIONS`) into their pickers and the selection."""
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise SendKitError(f"unknown dashboard option(s): {', '.join(sorted(unknown))}")
        pickers = self._option_pickers()
        for name, value in options.items():
            if pickers[name].value != value:
                pickers[name].value = value
        self.screen.selection = self.screen.selection.with_(**options)
        if "by_variant" in options:
            self.ui.show_variant_panel(bool(options["by_variant"]))

    def set_window(self, since: WindowBound, until: WindowBound, label: str) -> None:
        """The date window into the picker (``label`` names it when it is none of
        :data:`~._layout.WINDOWS`) and the selection."""
        picker = self.ui.window_picker
        presets = [(name, value) for name, value in WINDOWS.items()]
        if until is None and (since is None or since in WINDOWS.values()):
            picker.options = presets
            picker.value = since or ""
        else:
            picker.options = [*presets, (label, _CUSTOM)]
            picker.value = _CUSTOM
        self.screen.selection = self.screen.selection.with_(since=since, until=until)


def _label_of(catalog: pl.DataFrame, campaign_id: str) -> str:
    hit = catalog.filter(pl.col("campaign_id") == campaign_id)
    if hit.height:
        gone = bool(hit["deleted"][0]) if "deleted" in hit.columns else False
        return campaign_label(hit["name"][0], hit["status"][0], gone)
    return f"campaign {campaign_id}"  # gone from the list since it was opened
