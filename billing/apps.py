from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self):
        # Seat limits are billing's rule; provisioning (metering, below billing) runs the guards it is given.
        from billing.usage.seats import seat_limit_guard
        from metering.provisioning import provisioning_guard_register

        provisioning_guard_register(seat_limit_guard)
