"""The billing app's models, one module per sub-domain; Django finds them through this index.

Code inside ``billing/`` imports a model from its own room (``billing.invoices.models``); other apps and
the tests may use this index.
"""

from billing.credit_notes.models import CreditNote, CreditNoteLine
from billing.credits.models import CreditApplication, CreditGrant, CreditLedgerEntry
from billing.dunning.models import DunningReminder
from billing.invoices.models import Invoice, InvoiceCounter, InvoiceEvent, InvoiceLine
from billing.payments.models import BankTransaction, Payment, Refund
from billing.runs.models import BillingRun
from billing.subscriptions.models import Subscription

__all__ = [
    "BankTransaction",
    "BillingRun",
    "CreditApplication",
    "CreditGrant",
    "CreditLedgerEntry",
    "CreditNote",
    "CreditNoteLine",
    "DunningReminder",
    "Invoice",
    "InvoiceCounter",
    "InvoiceEvent",
    "InvoiceLine",
    "Payment",
    "Refund",
    "Subscription",
]
