"""The notebook dashboard (ipywidgets + plotly FigureWidgets).

>>> import sendkit_nb as sk
>>> dash = sk.dashboard()          # doctest: +SKIP
"""

from __future__ import annotations

from sendkit_nb.widgets._app import FIGURES, Dashboard, dashboard
from sendkit_nb.widgets._html import KPIS
from sendkit_nb.widgets._state import SORT_KEYS, CampaignStore, LoadedCampaign, Selection, View

__all__ = [
    "FIGURES",
    "KPIS",
    "SORT_KEYS",
    "CampaignStore",
    "Dashboard",
    "LoadedCampaign",
    "Selection",
    "View",
    "dashboard",
]
