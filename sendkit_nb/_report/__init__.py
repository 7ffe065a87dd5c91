"""One self-contained HTML report of SendKit campaigns that works offline and without a kernel.

Usage (``report`` is exported as ``sk.report``)::

    import sendkit_nb as sk
    client = sk.connect()                       # the real API with SENDKIT_API_KEY, else the demo
    sk.report(client, path="report.html")       # every campaign; shows as a link in a notebook
    sk.report(client, ["<id>", "<id>"], "two.html", status="replied")
    sk.report(sk.open_store("sendkit-data"), since="30d")   # a store from sk.sync: no network
    sk.report(client, attribution="inbox")      # replies placed by the inbox threads
    page = sk.report(leads, catalog=sk.load_campaigns(client))   # an already-loaded frame
    page.write_raw_html("leads.html")           # or page.as_raw_html(): the HTML text

``report`` returns a small :class:`Report` (path, size, campaigns), never the 5 MB string
itself, so a notebook cell ending in ``sk.report(...)`` shows a line and a link;
:func:`as_html` returns the string.

The page holds plotly.js once (no CDN, no request of any kind), an overview of the chosen
campaigns side by side, per campaign the KPIs, step funnel, A/B variants with intervals, reply
curve, daily activity, status and AI-tag breakdowns, the data checks, and the definitions
appendix (:data:`sendkit_nb.metrics.DEFINITIONS`). A switcher shows one campaign at a time.
It never contains the API key.

The layout is in package files (``templates/report.html.j2``, ``report.css``, ``report.js``).
"""

from __future__ import annotations

import html as htmllib
import os
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from sendkit_nb._checks import check_positive_tags, check_text
from sendkit_nb._errors import BadRequestError
from sendkit_nb._files import check_writable
from sendkit_nb._renderer import OFFLINE_RENDERER, use_offline_renderer
from sendkit_nb._report._html import REPORT_SUFFIXES, check_report_path, write_report
from sendkit_nb._report._select import CampaignChoice, Selection, normalize_campaigns
from sendkit_nb._summary import CampaignSummary
from sendkit_nb.metrics import WindowBound
from sendkit_nb.metrics._attribution import ATTRIBUTIONS
from sendkit_nb.metrics._windows import check_window

__all__ = [
    "OFFLINE_RENDERER",
    "REPORT_SUFFIXES",
    "Report",
    "as_html",
    "check_report_path",
    "report",
    "use_offline_renderer",
    "write_report",
]

_METRICS = ("open", "click", "reply", "positive")

#: Campaign names listed in a report's notebook summary before "and N more".
_NAMES_SHOWN = 3


@dataclass(frozen=True, eq=False)
class Report:
    """What :func:`report` returns: a small handle on one built report, not its 5 MB of text.

    In a notebook it shows as one line with a link to the file (or, when nothing was written,
    a note on how to write it); ``repr()`` is one short line. The page itself is
    :meth:`as_raw_html` (also :attr:`html`), and :meth:`write_raw_html` writes it.

    ``path``: the file written (absolute), or None when ``report()`` was called without one.
    ``size``: the page's size in bytes (UTF-8). ``campaigns``: the ids in the report, in
    order; ``names``: their names. ``title``: the page title.
    """

    path: Path | None
    size: int
    campaigns: tuple[str, ...]
    names: tuple[str, ...]
    title: str
    #: The whole page (plotly.js included): kept out of the repr on purpose.
    html: str = field(repr=False)

    def as_raw_html(self) -> str:
        """The report as one self-contained HTML document (the text of the file)."""
        return self.html

    def write_raw_html(self, path: str | os.PathLike[str]) -> Report:
        """Write the page to ``path`` (``.html``), creating folders; the file is replaced
        atomically (:func:`sendkit_nb._files.write_atomic`), so an interrupted write never
        leaves half a report. Returns the report bound to that file (shown as a link)."""
        target = write_report(self.html, path)
        return replace(self, path=target.resolve())

    def _size_text(self) -> str:
        if self.size >= 1_000_000:
            return f"{self.size / 1e6:.1f} MB"
        return f"{max(1, round(self.size / 1e3))} kB"

    def _campaigns_text(self) -> str:
        count = len(self.campaigns)
        return f"{count} campaign{'' if count == 1 else 's'}"

    def __repr__(self) -> str:
        where = repr(_shown_path(self.path)) if self.path is not None else "not written"
        return f"Report({where}, {self._size_text()}, {self._campaigns_text()})"

    def _repr_html_(self) -> str:
        names = ", ".join(self.names[:_NAMES_SHOWN])
        if len(self.names) > _NAMES_SHOWN:
            names += f" and {len(self.names) - _NAMES_SHOWN} more"
        about = htmllib.escape(f"{self._summary()}: {names}" if names else self._summary())
        title = htmllib.escape(self.title)
        if self.path is None:
            text = (
                f"<b>{title}</b> ({about}), not written to a file: "
                "<code>.write_raw_html(&quot;report.html&quot;)</code> writes it, "
                "<code>.as_raw_html()</code> returns the HTML"
            )
        else:
            link = (
                f'<a href="{htmllib.escape(_href(self.path))}" target="_blank" rel="noopener">'
                f"{htmllib.escape(_shown_path(self.path))}</a>"
            )
            text = f"<b>{title}</b>: {link} ({about})"
        return f'<div class="sendkit-report">{text}</div>'

    def _summary(self) -> str:
        """``"5.3 MB, 7 campaigns"``: what the notebook summary says about the page."""
        return f"{self._size_text()}, {self._campaigns_text()}"


def _relative(path: Path) -> Path | None:
    """``path`` relative to the working folder, or None when it is outside it (or the working
    folder no longer exists)."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return None


def _shown_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it, else absolute."""
    relative = _relative(path)
    return relative.as_posix() if relative is not None else str(path)


def _href(path: Path) -> str:
    """The link to a written report: relative to the working folder when the file is inside
    it (as :class:`IPython.display.FileLink` does, so Jupyter opens it beside the notebook),
    else a ``file://`` URI."""
    relative = _relative(path)
    return urllib.parse.quote(relative.as_posix()) if relative is not None else path.as_uri()


def as_html(
    source: Any,
    campaigns: CampaignChoice = None,
    *,
    status: str | Sequence[str] | None = None,
    catalog: pl.DataFrame | None = None,
    title: str | None = None,
    positive_tags: Iterable[str] | None = None,
    denominator: str = "delivered",
    metric: str = "reply",
    progress: bool = True,
    pulled_at: datetime | None = None,
    since: WindowBound = None,
    until: WindowBound = None,
    mailboxes: pl.DataFrame | None = None,
    attribution: str | None = None,
    replies: pl.DataFrame | None = None,
) -> str:
    """The report as an HTML string (see :func:`report`; this one never writes a file)."""
    built = report(
        source,
        campaigns,
        None,
        status=status,
        catalog=catalog,
        title=title,
        positive_tags=positive_tags,
        denominator=denominator,
        metric=metric,
        progress=progress,
        pulled_at=pulled_at,
        since=since,
        until=until,
        mailboxes=mailboxes,
        attribution=attribution,
        replies=replies,
    )
    return built.as_raw_html()


def report(
    source: Any,
    campaigns: CampaignChoice = None,
    path: str | os.PathLike[str] | None = None,
    *,
    status: str | Sequence[str] | None = None,
    catalog: pl.DataFrame | None = None,
    title: str | None = None,
    positive_tags: Iterable[str] | None = None,
    denominator: str = "delivered",
    metric: str = "reply",
    progress: bool = True,
    pulled_at: datetime | None = None,
    since: WindowBound = None,
    until: WindowBound = None,
    mailboxes: pl.DataFrame | None = None,
    attribution: str | None = None,
    replies: pl.DataFrame | None = None,
) -> Report:
    """Build the offline HTML report, write it to ``path`` when given, and return a small
    :class:`Report` (shown as a link in a notebook; ``.as_raw_html()`` is the HTML text,
    ``.write_raw_html(path)`` writes it).

    ``source``: a :class:`~sendkit_nb.SendKitClient` (the campaigns and leads are loaded
    through it, and the pull time recorded), a :class:`~sendkit_nb.Store` from
    :func:`~sendkit_nb.open_store` (no client, no network: its campaigns give the names and
    steps, its last sync the pull time; campaigns deleted upstream are left out with a note
    unless named in ``campaigns``, then marked "(deleted upstream)"), an already-loaded leads
    frame from
    :func:`~sendkit_nb.load_leads` (one campaign or several concatenated), or a campaign
    summary (``sendkit_nb._summary.CampaignSummary``, what the dashboard shows), rendered as it
    is: its status filter and settings are the report's, so ``status``, ``positive_tags``,
    ``denominator`` and ``metric`` must not be given with it.
    ``campaigns``: a campaign id or a list of them (or a campaigns frame); None = every campaign
    of the source. ``path``: a file ending in ``.html``; checked before anything is loaded.
    ``status``: only leads with this status (or these statuses); applied to a frame too.
    ``catalog``: ``load_campaigns(client)``, for campaign names and step labels; fetched from
    the client when the source is one. ``title`` replaces the page title. ``positive_tags``,
    ``denominator`` (``"delivered"``, ``"sent"`` or ``"opened"``) and ``metric`` (the A/B test's
    rate: ``"open"``, ``"click"``, ``"reply"`` or ``"positive"``) are passed to the metrics.
    ``progress`` shows progress bars while loading and building. ``pulled_at`` records when a
    frame passed in was loaded (shown in the header). ``since`` / ``until``: a time window (a
    datetime, a date, an ISO string, or ``"30d"``, ``"4w"``, ``"3m"`` before the data's "now":
    the source's clock when it was pulled, that is the API server's ``Date`` (the real API's is
    the pull time, the demo API's is frozen at its data's end), else ``pulled_at``, else the
    data's latest timestamp): every number counts the emails sent in the window and the
    replies attributed to them (``metrics.DEFINITIONS``); the header says the window.
    ``attribution``: ``"last_touch"`` (the default) or ``"inbox"``: the campaign overview and
    each campaign's KPIs, step funnel and A/B test count a reply at the step its inbox thread
    shows, auto-replies apart (``metrics.DEFINITIONS``), and its data checks compare the two per
    step (``metrics.reconcile(..., replies=)``, in the same window). ``replies``:
    :func:`~sendkit_nb.load_replies` of the reported campaigns (``pl.concat`` of several), which
    implies ``"inbox"``; with a client source and no ``replies`` they are loaded here, one
    request per thread (which is why it is asked for, not done by default).
    ``mailboxes``: :func:`~sendkit_nb.load_mailboxes` of the workspace, for a "Senders" section
    (bounce and reply rate per sending mailbox with intervals, those over 5% bounces flagged);
    it is shown as loaded (its own dates), not cut to the campaigns or the window.

    Bad arguments raise :class:`~sendkit_nb.BadRequestError` before any request is made.
    """
    from sendkit_nb import metrics as skm

    # Whether the file can be written too: a bad path must not cost the whole load.
    target = check_writable(check_report_path(path)) if path is not None else None
    skm.rate_denominators(denominator)
    if mailboxes is not None:
        skm.mailbox_rates(mailboxes)  # a bad frame is refused before anything is loaded
    if metric not in _METRICS:
        raise BadRequestError(
            f"unknown metric {metric!r}", hint=f"Use one of {', '.join(map(repr, _METRICS))}."
        )
    tags = _positive_tags(positive_tags)
    inbox = _inbox(source, attribution, replies)
    # Checked before anything is loaded, without a clock: a relative bound is counted back
    # from the data's clock below, by the same rule as the metrics (never the wall clock).
    check_window(since, until, what="report")
    # A blank title is refused, not replaced: the page would be untitled (and so would its
    # browser tab), or get a title other than the one asked for. The CLI's --title the same.
    check_text(title, "title", example="Q3 outbound")
    # Imported here so that a missing optional dependency is reported on use, clearly.
    _require("plotly", "jinja2")
    from sendkit_nb._report._build import Options, build_view
    from sendkit_nb._report._html import render
    from sendkit_nb._report._select import select

    if isinstance(source, CampaignSummary):
        if (status, tags, denominator, metric, since, until, attribution) != (
            None,
            None,
            "delivered",
            "reply",
            None,
            None,
            None,
        ):
            raise BadRequestError(
                "a campaign summary is reported with its own status filter and settings",
                hint="Pass status, positive_tags, denominator, metric, the window (since, "
                "until) and the attribution to the summary's options instead.",
            )
        selection = _summary_selection(source, campaigns, catalog, pulled_at)
        summaries = {selection.campaign_ids[0]: source}
        settings = source.options
        tags, denominator, metric = settings.positive_tags, settings.denominator, settings.metric
        since, until = settings.since, settings.until
    else:
        selection = select(
            source,
            campaigns,
            status=status,
            catalog=catalog,
            progress=progress,
            pulled_at=pulled_at,
        )
        summaries = {}
        if inbox and replies is None:
            replies = _load_replies(source, selection, progress)
        elif replies is not None:
            _check_replies_campaigns(replies, selection)
    window = skm.resolve_window(
        since, until, as_of=selection.as_of, leads=selection.leads, what="report"
    )
    options = Options(
        title=title,
        window=None if window.is_open else window,
        positive_tags=tags,
        denominator=denominator,  # type: ignore[arg-type]
        metric=metric,  # type: ignore[arg-type]
        progress=progress,
        mailboxes=mailboxes,
        replies=replies if inbox else None,
    )
    view, store = build_view(selection, options, summaries)
    html = render(view, store)
    written = write_report(html, target).resolve() if target is not None else None
    return Report(
        path=written,
        size=len(html.encode("utf-8")),
        campaigns=tuple(c.campaign_id for c in view.campaigns),
        names=tuple(c.name for c in view.campaigns),
        title=view.title,
        html=html,
    )


def _summary_selection(
    summary: CampaignSummary,
    campaigns: CampaignChoice,
    catalog: pl.DataFrame | None,
    pulled_at: datetime | None,
) -> Selection:
    """The report's data when it renders one campaign summary: that campaign, its leads."""
    campaign_id = summary.campaign_id
    if campaign_id is None:
        raise BadRequestError(
            "the campaign summary does not say which campaign it is of",
            hint="Report a summary built for one campaign, or pass its leads frame instead.",
        )
    if campaigns is not None and normalize_campaigns(campaigns) != [campaign_id]:
        raise BadRequestError(
            f"a campaign summary reports on its own campaign ({campaign_id}) only",
            hint="Leave campaigns= out, or pass that campaign's id.",
        )
    return Selection(
        leads=summary.leads,
        campaign_ids=(campaign_id,),
        catalog=catalog,
        source="a campaign summary (the dashboard's selection)",
        pulled_at=pulled_at,
        statuses=summary.options.statuses or None,
        all_campaigns=False,
        demo=False,
    )


def _inbox(source: object, attribution: str | None, replies: object) -> bool:
    """Whether the report uses inbox attribution; checked before anything is loaded."""
    from sendkit_nb._client import SendKitClient

    if attribution is not None and attribution not in ATTRIBUTIONS:
        raise BadRequestError(
            f"unknown attribution {attribution!r}",
            hint=f"Use one of {', '.join(map(repr, ATTRIBUTIONS))}.",
        )
    if replies is not None and (
        not isinstance(replies, pl.DataFrame) or "campaign_id" not in replies.columns
    ):
        raise BadRequestError(
            "replies must be the polars DataFrame of sk.load_replies (with its campaign_id), "
            f"got {type(replies).__name__}",
            hint="Pass replies=pl.concat([sk.load_replies(client, id) for id in ids]).",
        )
    if attribution == "last_touch" and replies is not None:
        raise BadRequestError(
            "replies= is only read with attribution='inbox'",
            hint="Leave attribution out (replies= implies 'inbox'), or drop replies=.",
        )
    inbox = attribution == "inbox" or replies is not None
    if inbox and isinstance(source, CampaignSummary):
        return inbox  # refused with the other settings a summary brings itself
    if inbox and replies is None and not isinstance(source, SendKitClient):
        raise BadRequestError(
            "attribution='inbox' needs the inbox replies: only a client source can load them",
            hint="Pass replies=pl.concat([sk.load_replies(client, id) for id in ids]).",
        )
    return inbox


def _check_replies_campaigns(replies: pl.DataFrame, selection: Selection) -> None:
    """Replies of a campaign the report does not show would be dropped unseen: refused."""
    theirs = set(replies["campaign_id"].drop_nulls().unique().to_list())
    extra = sorted(theirs - set(selection.campaign_ids))
    if extra:
        raise BadRequestError(
            f"the replies are from campaign(s) {', '.join(extra)}, which the report does not show",
            hint="Pass the replies of the reported campaigns, or name those campaigns too.",
        )


def _load_replies(source: Any, selection: Selection, progress: bool) -> pl.DataFrame:
    """Every reported campaign's inbox replies, through the client (one request per thread);
    each campaign's loaded leads give the threads' emails their steps, with no second walk."""
    from sendkit_nb._inbox import load_replies

    per_campaign = selection.leads.partition_by("campaign_id", as_dict=True)
    empty = selection.leads.clear()
    frames = [
        load_replies(source, cid, leads=per_campaign.get((cid,), empty), progress=progress)
        for cid in selection.campaign_ids
    ]
    return pl.concat(frames, how="vertical")


def _positive_tags(tags: Iterable[str] | None) -> tuple[str, ...] | None:
    values = check_positive_tags(tags)
    if values == ():
        raise BadRequestError(
            "positive_tags names no AI tag: the report's positive rates would all be 0",
            hint="For example positive_tags=['interested', 'meeting_booked'], or leave it out "
            "for the default set.",
        )
    return values


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise BadRequestError(
            f"the HTML report needs {' and '.join(missing)}, which are not installed",
            hint="pip install 'sendkit_nb[report]'",
        )
