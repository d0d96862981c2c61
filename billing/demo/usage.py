"""Demo steps: three months of usage events, ingested in batches, and the pre-aggregated state."""

import math
from datetime import datetime, timedelta

from billing.demo.base import BATCH, ENDPOINTS, EVENTS_AT_SCALE_1, DemoCustomer, midnight
from metering.services import events_ingest, metric_state_rebuild

PROGRESS_EVERY = 25_000  # events between two progress lines


class UsageSteps:
    # --- usage ------------------------------------------------------------------------------------------------

    def _days(self, entry: DemoCustomer):
        """(day start, day end) of every day of the window the customer was using the product."""
        start = entry.signup
        end = min(entry.active_until or self.now, self.now)
        day = midnight(start.date())
        while day < end:
            yield max(day, start), min(day + timedelta(days=1), end)
            day += timedelta(days=1)

    def _intensity(self, day: datetime) -> float:
        """Usage grows through the window and drops at weekends."""
        progress = (day - self.start) / (self.now - self.start)
        return (0.7 + 0.6 * progress) * (0.45 if day.weekday() >= 5 else 1.0)

    def events_generate(self) -> list[dict]:
        rng = self.rng
        target = EVENTS_AT_SCALE_1 * self.scale
        entries = list(self.customers.values())
        days = {entry.customer.external_id: list(self._days(entry)) for entry in entries}
        storage = sum(len(spans) for spans in days.values())
        computing = [e for e in entries if e.computes]
        paying = [e for e in entries if e.pays]
        shares = {"compute": 0.04 if computing else 0, "payment": 0.05 if paying else 0, "export": 0.004}
        api_target = max(0.0, target - storage - sum(shares.values()) * target)

        def rate(group, budget):
            mass = sum(e.weight * self._intensity(s) * (s2 - s) / timedelta(days=1)
                       for e in group for s, s2 in days[e.customer.external_id])  # fmt: skip
            return budget / mass if mass else 0.0

        api_rate = rate(entries, api_target)
        compute_rate = rate(computing, shares["compute"] * target)
        payment_rate = rate(paying, shares["payment"] * target)
        export_rate = rate(entries, shares["export"] * target)

        payloads: list[dict] = []
        sequence = 0

        def emit(entry, code, at, properties):
            nonlocal sequence
            sequence += 1
            payloads.append({
                "transaction_id": f"demo-{sequence:07d}", "customer": entry.customer.external_id, "code": code,
                "timestamp": at.isoformat(), "properties": properties,
            })  # fmt: skip

        def count(expected):
            whole = int(expected)
            return whole + (1 if rng.random() < expected - whole else 0)

        for entry in entries:
            level = round(entry.weight * rng.uniform(15, 60), 2)
            regions = [entry.region] * 6 + ["us", "eu", "ap", "sa"]
            for start, end in days[entry.customer.external_id]:
                span = (end - start).total_seconds()
                fraction = span / 86400
                factor = entry.weight * self._intensity(start) * fraction

                def instant(start=start, span=span):
                    return start + timedelta(seconds=int(rng.random() * span))

                active = [u for u, since, left in entry.users if since <= end and (left is None or left > start)]
                active = [u for u in active if u != "nw-support"] or ["u-001"]
                for _ in range(count(api_rate * factor * rng.uniform(0.8, 1.2))):
                    emit(entry, "api_call", instant(), {
                        "user": rng.choice(active), "region": rng.choice(regions),
                        "endpoint": rng.choice(ENDPOINTS), "status": rng.choice((200,) * 19 + (429,)),
                    })  # fmt: skip
                level = max(1.0, round(level * rng.uniform(0.995, 1.02) + rng.uniform(0, 0.5), 2))
                emit(entry, "storage", start + timedelta(seconds=min(span - 1, 3600 * 2 + rng.randint(0, 600))),
                     {"gb": f"{level:.2f}"})  # fmt: skip
                if entry.computes:
                    for _ in range(count(compute_rate * factor)):
                        emit(
                            entry,
                            "compute",
                            instant(),
                            {"hours": f"{rng.uniform(0.25, 6):.2f}", "instance": rng.choice(("small", "large", "gpu"))},
                        )
                if entry.pays:
                    for _ in range(count(payment_rate * factor)):
                        status = "failed" if rng.random() < 0.06 else "succeeded"
                        amount = f"{math.exp(rng.gauss(3.6, 0.9)):.2f}"
                        emit(entry, "payment", instant(), {"amount": amount, "currency": "USD", "status": status})
                for _ in range(count(export_rate * factor)):
                    emit(entry, "export", instant(), {"format": rng.choice(("csv", "parquet"))})
        payloads.sort(key=lambda payload: payload["timestamp"])
        return payloads

    def events_send(self, payloads: list[dict]) -> int:
        """Ingest in batches of 1,000, each received just after its last event (as a live feed would be)."""
        accepted, reported = 0, 0
        for offset in range(0, len(payloads), BATCH):
            batch = payloads[offset : offset + BATCH]
            received = min(self.now, datetime.fromisoformat(batch[-1]["timestamp"]) + timedelta(seconds=30))
            result = events_ingest(merchant=self.merchant, payloads=batch, received_at=received)
            if result.rejected:
                errors = [r.errors for r in result.results if r.status == "rejected"][:3]
                raise RuntimeError(f"demo events were rejected: {errors}")
            accepted += result.accepted
            if accepted - reported >= PROGRESS_EVERY and offset + BATCH < len(payloads):
                reported = accepted
                self.log(f"        usage events: {accepted:,} of {len(payloads):,} ingested")
        return accepted

    def state_rebuild(self) -> None:
        for metric in self.metrics.values():
            metric_state_rebuild(metric=metric, force=True)
