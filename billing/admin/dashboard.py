"""The finance dashboard of the back office: cards, charts and top tenants, on the admin index and /admin/dashboard/.

The figures come from `billing.selectors.dashboard`; this module only turns them into what the
templates show (formatted amounts, links into the invoice and tenant admin, SVG charts). The admin
site (`billing_project.admin_site`) wraps the view with `admin_view`, so only staff reach it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from billing.admin.charts import Point, bar_chart, line_chart, money_label
from billing.selectors.collection import Collection, collection_summary
from billing.selectors.dashboard import CurrencyAmount, Dashboard, MonthTotal, dashboard_summary


@dataclass(frozen=True)
class Card:
    """One figure on the dashboard: main-currency value, a note, other currencies, an optional link."""

    key: str
    title: str
    value: str
    note: str = ""
    others: tuple[str, ...] = ()
    url: str | None = None
    alert: bool = False


def admin_url(name: str, query: dict | None = None, args: tuple = ()) -> str | None:
    """Return the URL of admin page `name` (with `query`), or None when that model has no admin."""
    try:
        url = reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


def tenant_invoices_url(tenant_id: str) -> str | None:
    """Return the invoice list filtered to one tenant."""
    return admin_url("billing_invoice_changelist", {"tenant__id__exact": tenant_id})


def _month_amount(series: dict[str, list[MonthTotal]], currency: str, index: int) -> Decimal:
    months = series.get(currency)
    return months[index].amount if months else Decimal(0)


def _others(amounts: dict[str, Decimal], main: str) -> tuple[str, ...]:
    return tuple(money_label(a, c) for c, a in sorted(amounts.items()) if c != main and a)


def _receivable_card(key: str, title: str, found: dict[str, CurrencyAmount], main: str, url, alert: bool) -> Card:
    mine = found.get(main)
    count = sum(v.count for v in found.values())
    return Card(
        key=key,
        title=title,
        value=money_label(mine.amount if mine else Decimal(0), main),
        note=f"{count} open invoice{'s' if count != 1 else ''}" if count else "None",
        others=_others({c: v.amount for c, v in found.items()}, main),
        url=url,
        alert=alert and count > 0,
    )


def dashboard_cards(d: Dashboard) -> list[Card]:
    """Return the dashboard's cards: invoiced, collected, outstanding, overdue, usage cost this month."""
    main = d.currency
    this_month, last_month = -1, -2
    usage_month = {c: sum((x.amount for x in days), Decimal(0)) for c, days in d.usage_days.items()}
    # Aware ISO instants: the changelist filters compare them as given, whatever the server's time zone.
    now_iso = d.now.isoformat(timespec="seconds")
    month_iso = f"{d.months[-1]:%Y-%m-%d}T00:00:00+00:00"
    return [
        Card(
            key="invoiced",
            title=f"Invoiced in {d.months[-1]:%B}",
            value=money_label(_month_amount(d.invoiced, main, this_month), main),
            note=f"{d.months[-2]:%B}: {money_label(_month_amount(d.invoiced, main, last_month), main)}",
            others=_others({c: _month_amount(d.invoiced, c, this_month) for c in d.invoiced}, main),
            url=admin_url("billing_invoice_changelist", {"finalized_at__gte": month_iso}),
        ),
        Card(
            key="collected",
            title=f"Collected in {d.months[-1]:%B}",
            value=money_label(_month_amount(d.collected, main, this_month), main),
            note=f"{d.months[-2]:%B}: {money_label(_month_amount(d.collected, main, last_month), main)}",
            others=_others({c: _month_amount(d.collected, c, this_month) for c in d.collected}, main),
            url=admin_url("billing_invoice_changelist", {"status__exact": "paid"}),
        ),
        _receivable_card(
            "outstanding",
            "Outstanding",
            d.outstanding,
            main,
            admin_url("billing_invoice_changelist", {"status__exact": "open"}),
            alert=False,
        ),
        _receivable_card(
            "overdue",
            "Overdue",
            d.overdue,
            main,
            admin_url("billing_invoice_changelist", {"status__exact": "open", "due_at__lt": now_iso}),
            alert=True,
        ),
        Card(
            key="usage",
            title=f"Usage cost in {d.months[-1]:%B}",
            value=money_label(usage_month.get(main, Decimal(0)), main),
            note="Month to date: usage, minimums and one-off charges, priced like the preview",
            others=_others(usage_month, main),
        ),
    ]


def collection_cards(d: Dashboard, c: Collection) -> list[Card]:
    """Return the cards on collecting and correcting: net revenue, refunded, dunning."""
    main = d.currency
    invoiced = {cur: _month_amount(d.invoiced, cur, -1) for cur in set(d.invoiced) | set(c.credited)}
    net = {cur: invoiced.get(cur, Decimal(0)) - c.credited.get(cur, Decimal(0)) for cur in invoiced}
    retry_n, retry_amount = c.in_retry.get(main, (0, Decimal(0)))
    failed_n, failed_amount = c.failed_for_good.get(main, (0, Decimal(0)))
    month = f"{d.months[-1]:%B}"
    return [
        Card(
            key="net_revenue",
            title=f"Net revenue in {month}",
            value=money_label(net.get(main, Decimal(0)), main),
            note=f"Invoiced less {money_label(c.credited.get(main, Decimal(0)), main)} credited",
            others=_others(net, main),
            url=admin_url("billing_creditnote_changelist"),
        ),
        Card(
            key="refunded",
            title=f"Refunded in {month}",
            value=money_label(c.refunded.get(main, Decimal(0)), main),
            note="Through Stripe, from credit notes",
            others=_others(c.refunded, main),
            url=admin_url("billing_creditnote_changelist", {"refund_status__exact": "succeeded"}),
        ),
        Card(
            key="dunning",
            title="In payment retry",
            value=money_label(retry_amount, main),
            note=f"{retry_n} invoice(s); {failed_n} failed for good ({money_label(failed_amount, main)})",
            others=_others({cur: v[1] for cur, v in c.in_retry.items()}, main),
            url=admin_url("billing_invoice_changelist", {"next_payment_attempt__isnull": "False"}),
            alert=failed_n > 0,
        ),
    ]


def dashboard_charts(d: Dashboard) -> dict:
    """Return the two SVG charts: invoiced revenue per month (12 months) and usage cost per day."""
    main = d.currency
    months = d.invoiced.get(main) or [MonthTotal(m, Decimal(0)) for m in d.months]
    revenue = bar_chart(
        [Point(label=f"{m.month:%b}", title=f"{m.month:%B %Y}", amount=m.amount) for m in months],
        currency=main,
        title=f"Invoiced revenue per month ({main})",
        empty_message="No data yet: no invoices finalized in the last 12 months",
    )
    days = d.usage_days.get(main, [])
    usage = line_chart(
        [Point(label=f"{x.day.day}", title=f"{x.day:%a %d %b %Y}", amount=x.amount) for x in days],
        currency=main,
        title=f"Usage cost per day in {d.months[-1]:%B %Y} ({main})",
        empty_message="No data yet: no usage recorded this month",
        label_every=max(1, len(days) // 8),
    )
    return {"revenue": revenue, "usage": usage}


def dashboard_context(*, now: datetime | None = None) -> dict:
    """Return the template context of the dashboard panel (used by the index and the dashboard page)."""
    now = now or timezone.now()
    d = dashboard_summary(now=now)
    collection = collection_summary(now=now)
    dunning = [
        {
            "row": row,
            "remaining": money_label(row.remaining, row.currency),
            "invoice_url": admin_url("billing_invoice_change", args=(row.invoice_id,)),
        }
        for row in collection.retrying
    ]
    top = [
        {
            "tenant": t,
            "usage": money_label(t.usage, t.currency),
            "total": money_label(t.total, t.currency),
            "tenant_url": admin_url("billing_tenant_change", args=(t.tenant_id,)),
            "invoices_url": tenant_invoices_url(t.tenant_id),
        }
        for t in d.top_tenants
    ]
    return {
        "dashboard": d,
        "dashboard_cards": dashboard_cards(d) + collection_cards(d, collection),
        "dashboard_collection": collection,
        "dashboard_dunning": dunning,
        "dashboard_charts": dashboard_charts(d),
        "dashboard_top": top,
        "dashboard_url": admin_url("dashboard"),
        "tenants_url": admin_url("billing_tenant_changelist"),
        "invoices_url": admin_url("billing_invoice_changelist"),
    }


def dashboard_view(request):
    """Return the dashboard page (staff only: the admin site wraps it with `admin_view`)."""
    context = {
        **admin.site.each_context(request),
        "title": "Finance dashboard",
        **dashboard_context(),
    }
    return TemplateResponse(request, "admin/billing/dashboard.html", context)


admin.site.dashboard_register(view=dashboard_view, context=dashboard_context)
