from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from atlas.services import merchant_create


class Command(BaseCommand):
    help = "Create a merchant with its first Atlas user (admin). Prints a new API key on the last line."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--billing-day", type=int, default=1)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, name, email, password, billing_day, timezone, **options):
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"--email: {email!r} is not a valid email address")
        if len(password) < 8:
            raise CommandError("--password: use at least 8 characters")
        from django.contrib.auth import get_user_model

        if get_user_model().objects.filter(username=email).exists():
            raise CommandError(f"--email: an Atlas user {email} already exists")
        try:
            merchant, _, secret = merchant_create(
                name=name, email=email, password=password, billing_day=billing_day, timezone=timezone
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        self.stdout.write(f"Created merchant {merchant.name} (slug {merchant.slug}) with admin user {email}.")
        self.stdout.write("API key (shown once, store it now):")
        self.stdout.write(secret)
