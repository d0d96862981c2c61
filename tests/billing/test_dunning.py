"""Dunning (docs/receivables.md, "Dunning"): reminders e-mailed through a real SMTP server (aiosmtpd, started
here), each step of each invoice at most once.

One invoice throughout: a 100.00 monthly fee in advance from Jan 1, 2026, issued Jan 1 and due Jan 31 (30 days'
terms), steps [3, 7, 14]: day 3 is Feb 3, day 7 Feb 7, day 14 Feb 14.
"""

import email
import io
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from django.db import connection, connections
from pypdf import PdfReader

from atlas.services import merchant_update
from billing.dunning.services import days_past_due, dunning_run, reminder_message, step_due
from billing.models import Invoice
from billing.payments.services import invoice_mark_paid
from billing.runs.engine import billing_run
from billing.runs.tasks import billing_run_nightly
from tests.billing.test_invoices_helpers import D, at, customer, plan, subscribe

pytestmark = pytest.mark.django_db(transaction=False)


class Inbox:
    """An SMTP server's handler: keeps every message, or refuses them all while ``refuse`` is set."""

    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.envelopes: list = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "554 5.7.1 Refused for the test"
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox(settings):
    handler = Inbox()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield handler
    controller.stop()


def _invoice(merchant, *, external_id="alpha", email_address="billing@alpha.test") -> Invoice:
    version = plan(merchant, f"fee-{external_id}", base_fee="100.00", timing="in_advance")
    cust = customer(merchant, external_id, email=email_address)
    subscribe(merchant, cust, version, at(2026, 1, 1))
    billing_run(as_of=at(2026, 1, 1, 12), merchant=merchant)
    return Invoice.objects.get(customer=cust)


@pytest.fixture
def merchant(tenant):
    merchant_update(merchant=tenant.merchant, dunning_days=[3, 7, 14], company_name="Acme Cloud Ltd",
                    company_email="accounts@acme.test")  # fmt: skip
    return tenant.merchant


@pytest.fixture
def invoice(merchant) -> Invoice:
    found = _invoice(merchant)
    assert (found.number, found.status, found.amount_due, found.due_at) == (
        "INV-2026-000001", "finalized", D("100.00"), at(2026, 1, 31))  # fmt: skip
    return found


def sent_steps(invoice) -> list[tuple[int, str]]:
    return list(invoice.dunning_reminders.order_by("step").values_list("step", "status"))


def test_steps_count_local_days_past_due_and_a_late_run_takes_only_the_latest():
    assert days_past_due(due_at=at(2026, 1, 31), at=at(2026, 2, 3, 23), timezone_name="UTC") == 3
    assert days_past_due(due_at=at(2026, 1, 31), at=at(2026, 2, 3, 23), timezone_name="Asia/Tokyo") == 4
    assert [step_due(days=days, steps=[3, 7, 14]) for days in (-1, 0, 2, 3, 6, 7, 8, 13, 14, 90)] == [
        None, None, None, 3, 3, 7, 7, 7, 14, 14]  # fmt: skip


def test_each_step_is_mailed_once_with_the_invoice_pdf_from_the_merchant(inbox, invoice):
    assert dunning_run(as_of=at(2026, 2, 2, 3)).sent == []  # day 2: nothing yet
    result = dunning_run(as_of=at(2026, 2, 3, 3))
    assert (result.planned, result.sent, result.failed) == (1, ["INV-2026-000001 day 3"], [])
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Subject"] == "Reminder: invoice INV-2026-000001 is 3 days past due"
    assert message["From"] == "Acme Cloud Ltd <accounts@acme.test>"
    assert message["Reply-To"] == "accounts@acme.test"
    assert inbox.envelopes[0].rcpt_tos == ["billing@alpha.test"]
    body, attachment = [part for part in message.walk() if not part.is_multipart()]
    text = body.get_payload(decode=True).decode()
    assert "is now 3 days past due" in text and "Amount due: 100.00 USD" in text and "due on Jan 31, 2026" in text
    assert (attachment.get_content_type(), attachment.get_filename()) == ("application/pdf", "INV-2026-000001.pdf")
    pdf = attachment.get_payload(decode=True)
    assert pdf.startswith(b"%PDF-")
    assert "INV-2026-000001" in "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)

    assert dunning_run(as_of=at(2026, 2, 3, 9)).sent == []  # the same day again: nothing
    assert dunning_run(as_of=at(2026, 2, 7, 3)).sent == ["INV-2026-000001 day 7"]
    assert dunning_run(as_of=at(2026, 2, 14, 3)).sent == ["INV-2026-000001 day 14"]
    assert dunning_run(as_of=at(2026, 3, 30, 3)).sent == []  # no step after 14
    assert [m["Subject"] for m in inbox.messages] == [
        f"Reminder: invoice INV-2026-000001 is {days} days past due" for days in (3, 7, 14)]
    assert sent_steps(invoice) == [(3, "sent"), (7, "sent"), (14, "sent")]
    audit = list(invoice.audit.filter(actor="dunning").values_list("note", flat=True))
    assert audit == [f"Reminder ({days} days past due) sent to billing@alpha.test" for days in (3, 7, 14)]


def test_a_run_catching_up_at_day_8_sends_only_step_7_and_a_rerun_sends_nothing(inbox, invoice):
    result = dunning_run(as_of=at(2026, 2, 8, 3))
    assert (result.planned, result.sent) == (1, ["INV-2026-000001 day 7"])
    assert dunning_run(as_of=at(2026, 2, 8, 3)).as_dict() == {
        "planned": 0, "sent": [], "failed": [], "skipped_no_email": []}  # fmt: skip
    assert len(inbox.messages) == 1 and "7 days past due" in inbox.messages[0]["Subject"]
    assert sent_steps(invoice) == [(7, "sent")]  # step 3 was never planned: only the latest step goes out


def test_a_refused_message_is_not_marked_sent_and_goes_out_with_the_next_run(inbox, invoice):
    inbox.refuse = True
    result = dunning_run(as_of=at(2026, 2, 3, 3))
    assert (result.sent, result.failed) == ([], ["INV-2026-000001 day 3"])
    reminder = invoice.dunning_reminders.get()
    assert (reminder.status, reminder.attempts, reminder.sent_at, reminder.claimed_at) == ("pending", 1, None, None)
    assert reminder.last_error.startswith("SMTPDataError")
    assert not invoice.audit.filter(actor="dunning").exists()
    inbox.refuse = False
    assert dunning_run(as_of=at(2026, 2, 4, 3)).sent == ["INV-2026-000001 day 3"]
    assert sent_steps(invoice) == [(3, "sent")]
    assert len(inbox.messages) == 1


def test_an_unreachable_server_leaves_the_reminder_pending(settings, invoice):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 2
    result = dunning_run(as_of=at(2026, 2, 3, 3))
    assert result.failed == ["INV-2026-000001 day 3"]
    assert invoice.dunning_reminders.get().status == "pending"


def test_a_customer_without_email_is_skipped_and_reported(inbox, merchant):
    silent = _invoice(merchant, external_id="silent", email_address="")
    result = dunning_run(as_of=at(2026, 2, 3, 3))
    assert (result.sent, result.skipped_no_email) == ([], ["INV-2026-000001 day 3"])
    assert inbox.messages == []
    assert sent_steps(silent) == [(3, "skipped")]
    assert silent.audit.get(actor="dunning").note == (
        "Reminder (3 days past due) not sent: the customer has no e-mail address")
    assert dunning_run(as_of=at(2026, 2, 4, 3)).skipped_no_email == []  # reported once per step


def test_paid_and_void_invoices_and_merchants_without_steps_are_not_dunned(inbox, invoice, other_tenant):
    _invoice(other_tenant.merchant, external_id="beta")  # dunning_days = []: no reminders
    invoice_mark_paid(invoice=invoice, at=at(2026, 2, 1), actor="test")
    result = dunning_run(as_of=at(2026, 2, 20, 3))
    assert (result.planned, result.sent) == (0, [])
    assert inbox.messages == []


def test_the_nightly_run_reports_its_reminders(inbox, invoice):
    stats = billing_run_nightly(as_of=at(2026, 2, 3, 3).isoformat())
    assert stats["dunning"] == {"planned": 1, "sent": ["INV-2026-000001 day 3"], "failed": [], "skipped_no_email": []}


def test_the_preview_is_the_message_that_is_sent(invoice):
    merchant_update(merchant=invoice.merchant, payment_instructions="IBAN DE00 1234 5678 9000")
    invoice.merchant.refresh_from_db()
    subject, body = reminder_message(invoice=invoice, step=7)
    assert "How to pay:\nIBAN DE00 1234 5678 9000\n" in body
    assert subject == "Reminder: invoice INV-2026-000001 is 7 days past due"
    assert body.startswith("Dear Alpha Inc.,\n\nOur records show that invoice INV-2026-000001, issued on Jan 1, 2026")
    assert body.rstrip().endswith("Acme Cloud Ltd")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="real concurrency needs PostgreSQL")
def test_two_overlapping_runs_send_each_step_once(inbox, invoice):
    barrier, errors = threading.Barrier(2), []

    def run():
        try:
            barrier.wait()
            dunning_run(as_of=at(2026, 2, 3, 3))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(inbox.messages) == 1
    assert sent_steps(invoice) == [(3, "sent")]
    assert connection.vendor == "postgresql"
