"""The statement as a document: the PDF and the cockpit page show the same rows, formatted for people."""

from billing.display import date_text, money_text
from billing.invoices.pdf import render_pdf
from billing.invoices.services import customer_address
from billing.statements.selectors import Statement

KIND_LABELS = {"invoice": "Invoice", "payment": "Payment", "refund": "Refund", "credit_note": "Credit note",
               "credit_balance": "Credit balance", "void": "Void"}  # fmt: skip


def statement_context(statement: Statement) -> dict:
    customer, currency = statement.customer, statement.currency
    merchant, tz = customer.merchant, customer.merchant.timezone
    details = {"name": merchant.company_name or merchant.name, "address": merchant.company_address,
               "email": merchant.company_email, "tax_id": merchant.company_tax_id}  # fmt: skip
    party = {"customer_name": customer.name, "customer_address": customer_address(customer),
             "customer_email": customer.email, "customer_external_id": customer.external_id}  # fmt: skip
    totals = statement.totals
    return {
        "statement": statement,
        "merchant": details,
        "invoice": party,  # the parties block reads the customer from "invoice"
        "footer": f"{details['name']} · statement for {customer.name or customer.external_id}",
        "start": date_text(statement.start), "end": date_text(statement.end),
        "opening": money_text(statement.opening, currency),
        "closing": money_text(statement.closing, currency),
        "rows": [
            {"date": date_text(row.at, tz), "kind": KIND_LABELS[row.kind], "reference": row.reference,
             "description": row.description, "amount": money_text(row.amount, currency),
             "balance": money_text(row.balance, currency)}
            for row in statement.rows
        ],
        "summary": [(label, money_text(totals[kind], currency)) for kind, label in (
            ("invoice", "Invoices"), ("payment", "Payments"), ("credit_note", "Credit notes"), ("refund", "Refunds"),
            ("credit_balance", "Moved to credit balance"), ("void", "Voids")) if totals[kind]],
    }  # fmt: skip


def statement_pdf_bytes(statement: Statement) -> bytes:
    return render_pdf("billing/statement_pdf.html", statement_context(statement))
