"""The analytics contract, written once.

:data:`DEFINITIONS` is the text that reports, charts and docstrings print; the code in
``_funnel.py`` implements exactly it. Change one, change the other (the tests check the numbers
against an independent computation of this text).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "DEFINITIONS",
    "DENOMINATORS",
    "METRICS",
    "MIN_EVENTS",
    "MIN_SENDS",
    "OPENS_CAVEAT",
    "Denominator",
    "FunnelBy",
    "Metric",
    "rate_denominators",
]

#: How :func:`~sendkit_nb.metrics.funnel` groups: per step, or per (step, variant).
FunnelBy = Literal["step", "variant"]
#: The count column the open / click / reply / positive rates are divided by.
Denominator = Literal["delivered", "sent", "opened"]
#: The events a rate, an interval or an A/B test can be about.
Metric = Literal["open", "click", "reply", "positive"]

DENOMINATORS: Final[tuple[str, ...]] = ("delivered", "sent", "opened")
METRICS: Final[tuple[str, ...]] = ("open", "click", "reply", "positive")

#: An A/B arm with fewer leads than this in the rate's denominator is too small to call.
#: 100 is SendKit's own default for ``variantOptimization.minimumSendsPerVariant``.
MIN_SENDS: Final = 100
#: A step whose arms together have fewer events of the tested metric than this is too small to
#: call, however many leads it reached: with a handful of replies one lucky lead decides it.
MIN_EVENTS: Final = 10

OPENS_CAVEAT: Final = (
    "Opens are directional: image blocking undercounts them and privacy proxies (e.g. Apple Mail "
    "Privacy Protection) and security scanners overcount them. Compare open rates between "
    "variants of one campaign, not with other tools or as absolute truth."
)

DEFINITIONS: Final = f"""\
Definitions (sendkit_nb metrics)

For a selection of campaign leads (a campaign, optionally filtered by status):

Per sequence step s (the `sequenceStep` of sent emails; counts are of leads, a lead is counted
once per step even if it has two emails at that step):
- sent = leads with an email at step s.
- bounced = of those, leads whose step-s email bounced (every step-s email, if there are two).
  delivered = sent - bounced.
- opened, clicked = of the delivered, leads whose step-s email was opened / clicked. A flag on a
  bounced email is ignored: a bounced email never reached the lead.
- replied = leads whose reply is attributed to step s by last touch: the latest delivered email
  with sentAt <= repliedAt. A replied lead with no repliedAt is attributed to its latest delivered
  email. A reply with no delivered email before it (a reply before any email, or only bounced
  emails) is counted as unattributed, never dropped.
- positive = replied leads whose aiTag is in the positive set (default interested,
  meeting_booked; configurable; compared case-insensitively).
- Rates name their denominator (column `denominator`). Default: open, click, reply and positive
  rates over delivered; bounce rate over sent. With denominator="sent" (per lead contacted at the
  step) they are over sent; with denominator="opened" click, reply and positive rates are over
  opened (open rate stays over delivered) and can exceed 1, because clicks and replies happen
  without a tracked open. A zero denominator gives null, never NaN and never an error.

Per (step, variant): the same counts and rates, with 95% Wilson score intervals for the open,
click, reply and positive rates. Variants are compared only within a step; a null variant is the
step's single arm. The leader of a step is the arm with the highest rate of the tested metric
(default reply) among arms with at least {MIN_SENDS} leads in the denominator (among all arms if
none has). Every other arm is tested against the leader: a two-sided two-proportion z-test
(pooled), or Fisher's exact test when any expected cell count of the 2x2 table is below 5.
p-values are Holm-adjusted within the step. An arm is too small to call when it has fewer than
{MIN_SENDS} leads in the denominator or its step has fewer than {MIN_EVENTS} events of the tested
metric in all arms together; a difference is significant only when the adjusted p-value is below
0.05 and neither arm is too small.

Campaign headline (per lead): leads; contacted = leads with at least one email; delivered =
leads with at least one email that did not bounce; opened, clicked = leads with a delivered email
opened / clicked; replied = contacted leads that replied; positive = of those, leads with a
positive aiTag. Headline numerators count contacted leads only, so no rate exceeds 100% for any
selection; replies from leads never emailed are reported beside them as unattributed_replies
(not in replied or positive). unattributed = replied leads, emailed or not, whose reply has no
delivered email at or before it (the replies no funnel step counts; it includes the
unattributed_replies). Headline rate: positive replies per lead contacted (positive_rate);
reply_rate and bounce_rate are per lead contacted too, open_rate and click_rate per lead
delivered. Wilson interval bounds are clamped to [0, 1].

Inbox attribution (attribution="inbox" with replies=sk.load_replies(...), on the funnel, variant
funnel and headline; the default is last touch, above): a reply counts at the step its inbox
thread shows, the step of the last email sent before it. A message is automatic when its
is_auto_reply is true: load_replies sets it when the thread flags the message isAutoReply or the
conversation's aiTag is out_of_office (any case), and the metrics read that column only. replied
= leads whose first human message follows a step-s email (by time, then thread order), counted
once; leads whose thread has automatic messages only are not replied but auto_replied (at the
step of their first one). The variant and send time (for windows) are the lead's own email at
that step; a thread email the leads frame lacks, or no email before the message, leaves the
reply unattributed. A replied lead with no message in the threads keeps its last-touch step (so
do all of a campaign's replied leads when its inbox list is empty); replies of a campaign the
leads do not hold (one a status filter emptied) count for nothing. positive = replied leads with
a positive aiTag, as above. reconcile(leads, replies=...) shows per step the leads replied by
last touch (from_leads) against by the threads (from_api), in a since/until window by the same
rule as the funnel (a reply counts when the email it is placed at was sent in the window);
compare_attribution lists the leads whose step moved, whose reply was automatic, or that have no
thread.

Breakdown (breakdown(leads, by)): the headline's counts per group of leads, by any column or
expression (job title, country, email domain, a tag, a custom field, a bucketed number), pooled
over the campaigns in the selection. A null value is the group "(none)"; a list column (tags)
puts a lead in each of its distinct values, so groups overlap. Rate = events / denominator as in
the headline: replied, positive or bounced over contacted, opened or clicked over delivered, with
a 95% Wilson interval. Each group is tested against the rest of the selection (every lead not
in it): a two-sided two-proportion z-test (pooled), or Fisher's exact test when an expected cell
of the 2x2 table is below 5. A group is too small when fewer than min_leads (default 30) leads
are in its denominator; too-small groups are not tested in the family (they can be folded into
one "other" group first; "(none)" is never folded). The p-values of the tested groups are
adjusted for their number: Holm by default (adjust="holm", controls the chance of any false
call), or Benjamini-Hochberg (adjust="bh", controls the expected share of false calls). A group
differs significantly when its adjusted p-value is below alpha (default 0.05).

Reply curve (Kaplan-Meier, per contacted lead): the clock starts at the lead's first send (the
earliest sentAt of its emails); a replied lead (replied is true) counts on day ceil(days from the
first send to repliedAt); a lead that has not replied is censored at floor(days from its first
send to the end of observation), which defaults to the latest sentAt or repliedAt in the data.
cumulative_share = 1 - KM survival, the estimated share replied within N days; band: 95%
Greenwood interval on the log(-log) scale. Replies before the first send, replied leads without
repliedAt and contacted leads with no sentAt are left off the curve and counted separately.
Replied within 7 days = the curve's cumulative_share on day 7, the estimated share of contacted
leads replying within 7 days of their first email (null until some lead has been observed for 7
full days). Median days to reply (repliers) = the median of the days from the first send to
repliedAt over the replies on the curve; unlike the curve's own median (the first day it
reaches 50%), which cold email with its low reply rates seldom reaches, it always has a value
once a reply is on the curve.

Daily activity (UTC days): sent, opened, clicked and bounced count emails by the date they were
sent (the API says whether an email was opened, not when); replied and positive count leads by
the date of their repliedAt (replies without a time cannot be dated and are left out).

Time windows (since / until on the funnel, variant funnel, headline, daily activity and reply
curve): a window runs from since (included) to until (excluded), in UTC; a date as until
includes that whole day. Relative bounds ("7d", "4w", "3m" = calendar months) count back from
the source's clock when the data was pulled (as_of: the API server's Date at the pull, which a
store keeps, when known; else the latest sentAt or repliedAt in the data).
- A lead counts in a step when that step's email was sent in the window (emails without sentAt
  are in no window); the headline's contacted, delivered, bounced, opened and clicked look at the
  emails sent in the window only, and leads stays every lead of the selection.
- A reply counts when it is attributed (last touch, over all of the lead's emails) to an email
  sent in the window. A reply no email explains is placed at its own repliedAt (unattributed);
  one with neither is in no window.
- The reply curve keeps the leads first emailed in the window; their observation still ends at
  as_of.

Send cohorts (cohorts(leads, every="1w")): leads grouped by the UTC day, week (from Monday) or
month of their first email (the earliest sentAt). Per cohort the headline counts and rates
(replied, positive, bounced over contacted, with 95% Wilson intervals) and the share replied
within 3, 7 and 14 days: the Kaplan-Meier reply curve of the cohort (censored at as_of, so a
young cohort is not penalised for the days it has not had), null when no lead of the cohort
has been observed that many full days. Leads with no dated email are one row with no cohort.
With a window (since / until), the cohorts are the leads first emailed in it (as the reply
curve), counted as the headline counts a window; their replied-within shares are still
followed until as_of. Leads with no dated email are in no window.

Trends: the headline of each campaign as recorded by every sync of a store (syncs.parquet), one
point per sync, so a rate drawn over time is the campaign's whole-life rate as it stood then.

Steps as people count them: a step is the sequence item's `order` (column `step`: 0, 2, 4 ...,
wait steps take numbers too). From the campaign's sequence, email steps are numbered 1, 2, ... in
`order`, skipping wait steps (column `step_number`), and labelled "Step 1 · Quick question"
(column `step_label`). A step the sequence does not have as an email step, or any step when the
sequence is unknown, has no step_number and is labelled by its raw order ("Step order 7"). A
lead's current step reads the same at an email step, "After Step 1" at the wait after it (or past
the last step).

{OPENS_CAVEAT}
"""

_OVER: Final[dict[str, dict[str, str]]] = {
    "delivered": {"open_rate": "delivered", "click_rate": "delivered", "reply_rate": "delivered"},
    "sent": {"open_rate": "sent", "click_rate": "sent", "reply_rate": "sent"},
    "opened": {"open_rate": "delivered", "click_rate": "opened", "reply_rate": "opened"},
}


def rate_denominators(denominator: str = "delivered") -> dict[str, str]:
    """Map each funnel rate column to the count column it is divided by.

    >>> rate_denominators("opened")["click_rate"]
    'opened'
    >>> rate_denominators()["bounce_rate"]
    'sent'
    """
    if denominator not in _OVER:
        # Imported here so this module stays importable on its own (reports print DEFINITIONS).
        from sendkit_nb._errors import BadRequestError

        raise BadRequestError(
            f"unknown denominator {denominator!r}",
            hint=f"Use one of {', '.join(DENOMINATORS)}.",
        )
    over = _OVER[denominator]
    return {
        "bounce_rate": "sent",
        "open_rate": over["open_rate"],
        "click_rate": over["click_rate"],
        "reply_rate": over["reply_rate"],
        "positive_rate": over["reply_rate"],
    }
