"""The back office in a real browser: log in, dashboard, a tenant's invoices, finalize, download the PDF,
correct the invoice with a credit note and download the credit note's PDF.

Drives Debian's headless Chromium (installed by `make test` through scripts/ensure_chromium.sh)
with Selenium against pytest-django's live server. Screenshots of the dashboard and of the invoice
page are saved under .artifacts/. Skipped, with a message saying how to get the browser, only when
/usr/bin/chromium or /usr/bin/chromedriver is missing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
USERNAME, PASSWORD = "finance-browser", "browser-pass-123"

pytestmark = pytest.mark.django_db(transaction=True)


def _missing_browser() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"real-browser test skipped: {' and '.join(missing)} not installed "
            "(run scripts/ensure_chromium.sh as root, or apt-get install chromium chromium-driver)"
        )
    return None


@pytest.fixture
def browser():
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1440,1000",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _screenshot(driver, name: str) -> Path:
    """Save a full-page screenshot under .artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(int(height) + 40, 800))
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    driver.set_window_size(1440, 1000)
    return path


@pytest.fixture
def billing_data(catalog):
    """A staff user, tenant "acme" on Starter with usage, and a draft invoice for its last ended period."""
    from billing.models import Invoice, Subscription, Tenant
    from billing.pricing import add_months, period_containing
    from billing.services.invoices import invoice_generate_for_period
    from billing.services.usage import usage_ingest

    call_command("create_finance_user", USERNAME, "--password", PASSWORD, stdout=open(os.devnull, "w"))
    now = timezone.now()
    started = (now - timedelta(days=45)).replace(minute=0, second=0, microsecond=0)
    first_end = add_months(started, 1)
    current = period_containing(started, "month", now)
    tenant = Tenant.objects.create(id="acme", name="Acme Corp", tax_rate=Decimal("0.1"))
    sub = Subscription.objects.create(
        tenant=tenant,
        plan_id="starter",
        status="active",
        currency="USD",
        started_at=started,
        current_period_start=current[0],
        current_period_end=current[1],
        invoiced_through=started,
    )
    usage_ingest(
        tenant_id="acme",
        now=now,
        events=[
            {
                "event_id": "e1",
                "metric": "api_calls",
                "quantity": "12000",
                "timestamp": (started + timedelta(days=3)).isoformat(),
            },
            {
                "event_id": "e2",
                "metric": "api_calls",
                "quantity": "9000",
                "timestamp": (now - timedelta(hours=2)).isoformat(),
            },
        ],
    )
    invoice = invoice_generate_for_period(subscription=sub, period_start=started, period_end=first_end)
    assert invoice.status == Invoice.Status.DRAFT and invoice.lines.count() >= 2
    return {"invoice": invoice, "tenant": tenant}


def test_finance_user_finalizes_an_invoice_and_downloads_its_pdf(browser, live_server, billing_data):
    import requests
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    from billing.models import Invoice

    invoice = billing_data["invoice"]
    base = live_server.url
    wait = WebDriverWait(browser, 15)

    # Log in.
    browser.get(f"{base}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(USERNAME)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "finance-dashboard")))

    # The dashboard: cards, both charts, acme among the top tenants.
    assert "Billing back office" in browser.title
    assert browser.find_element(By.CSS_SELECTOR, "[data-card=usage] .bo-card-value").text.startswith("USD ")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart-revenue svg") and browser.find_elements(
        By.CSS_SELECTOR, "#chart-usage svg.bo-chart"
    )
    assert browser.find_element(By.CSS_SELECTOR, "#top-tenants tr[data-tenant=acme]")
    _screenshot(browser, "dashboard.png")

    # Two clicks from the index to the tenant's invoices: Tenants, then its "Invoices" link.
    browser.find_element(By.CSS_SELECTOR, "#content-main a[href='/admin/billing/tenant/']").click()
    browser.find_element(By.CSS_SELECTOR, "td.field-invoices_link a").click()
    wait.until(ec.url_contains("tenant__id__exact=acme"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(rows) == 1

    # The invoice page (a draft, with its lines).
    browser.get(f"{base}/admin/billing/invoice/{invoice.pk}/change/")
    assert "Starter" in browser.find_element(By.ID, "content").text
    _screenshot(browser, "invoice.png")

    # Finalize it from the list with the admin action.
    browser.get(f"{base}/admin/billing/invoice/?tenant__id__exact=acme")
    browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{invoice.pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("finalize")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    message = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li.success")))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN
    assert invoice.number and invoice.number.startswith(f"INV-{timezone.now().year}-")
    assert invoice.number in message.text or "finalized" in message.text.lower()

    # Download its PDF with the browser's session.
    browser.get(f"{base}/admin/billing/invoice/{invoice.pk}/change/")
    link = browser.find_element(By.CSS_SELECTOR, "a[href*='pdf']")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    response = requests.get(link.get_attribute("href"), cookies=cookies, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert f"{invoice.number}.pdf" in response.headers.get("Content-Disposition", "")

    # Correct the open invoice with a credit note from its page's list action, then download its PDF.
    browser.get(f"{base}/admin/billing/invoice/?tenant__id__exact=acme")
    browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{invoice.pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("create_credit_note")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait.until(ec.presence_of_element_located((By.ID, "invoice-action-form")))
    browser.find_element(By.NAME, "amount").send_keys("5.00")
    Select(browser.find_element(By.NAME, "reason")).select_by_value("product_unsatisfactory")
    browser.find_element(By.NAME, "memo").send_keys("Half a day of outage")
    browser.find_element(By.CSS_SELECTOR, "#invoice-action-form [type=submit]").click()
    created = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.messagelist li.success")))
    note = invoice.credit_notes.get()
    assert note.number in created.text and note.total == Decimal("5.00") and note.applied_amount == Decimal("5.00")
    _screenshot(browser, "invoice-credit-note.png")
    pdf_link = browser.find_element(By.CSS_SELECTOR, f"a[href='/admin/billing/creditnote/{note.pk}/pdf/']")
    response = requests.get(pdf_link.get_attribute("href"), cookies=cookies, timeout=30)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert f"{note.number}.pdf" in response.headers.get("Content-Disposition", "")
