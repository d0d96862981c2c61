"""The demo's fixed pieces: its seed and sizes, the names it draws from, the record each step fills in."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from customers.models import Customer
from metering.provisioning import Actor

D = Decimal
SEED = 20250101
BATCH = 1_000
HISTORY_DAYS = 92
SIGNUP_LEAD_DAYS = 30
CUSTOMERS_AT_SCALE_1 = 48
EVENTS_AT_SCALE_1 = 150_000
ACTOR = Actor(label="seed_demo")
REGIONS_BY_COUNTRY = {"US": "us", "CA": "us", "BR": "sa", "JP": "ap", "AU": "ap", "SG": "ap", "IN": "ap"}
EUR_COUNTRIES = {"DE", "FR", "NL", "ES", "IT", "IE", "FI"}
ENDPOINTS = ("/v1/search", "/v1/items", "/v1/orders", "/v1/users", "/v1/reports", "/v1/exports")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
               "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa")  # fmt: skip
LAST_NAMES = ("Adler", "Brooks", "Chen", "Diaz", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
              "Lopez", "Moreau", "Okafor", "Patel", "Rossi")  # fmt: skip
# Filler customers: (name, country). The first CUSTOMERS_AT_SCALE_1 minus the featured ones are used at scale 1.
COMPANIES = (
    ("Acme Robotics", "US"), ("Blue Harbor Analytics", "GB"), ("Cobalt Health", "US"), ("Dunmore Logistics", "GB"),
    ("Ember Studios", "CA"), ("Fjord Data", "FI"), ("Granite Labs", "US"), ("Helios Energy", "DE"),
    ("Ironclad Security", "US"), ("Juniper Travel", "GB"), ("Kestrel Finance", "IE"), ("Lumen Education", "US"),
    ("Meridian Maps", "NL"), ("Nimbus Weather", "US"), ("Orchid Retail", "SG"), ("Pinnacle Legal", "GB"),
    ("Quartz Media", "FR"), ("Redwood Games", "US"), ("Saffron Kitchens", "IN"), ("Tidal Marine", "AU"),
    ("Upland Farms", "US"), ("Vertex Biotech", "DE"), ("Willow Insurance", "GB"), ("Xenon Motors", "JP"),
    ("Yellowtail Foods", "US"), ("Zephyr Aviation", "ES"), ("Atlas Copperworks", "US"), ("Beacon Hospitality", "GB"),
    ("Cinder Gaming", "US"), ("Delta Dental Group", "US"), ("Evergreen Realty", "CA"), ("Foxglove Pharma", "GB"),
    ("Gull Island Resorts", "US"), ("Harbor Freightways", "US"), ("Indigo Fashion", "IT"), ("Jade Logistics", "SG"),
    ("Koala Kids", "AU"), ("Lattice Semiconductors", "US"), ("Mosaic Architecture", "NL"), ("Northstar Outdoors", "US"),
    ("Opal Jewelry", "GB"), ("Prairie Wind Power", "US"), ("Quill Publishing", "GB"), ("Riverbend Clinics", "US"),
    ("Sable Audio", "DE"), ("Terra Mining", "BR"), ("Umber Coffee", "US"), ("Violet Cosmetics", "FR"),
)  # fmt: skip



@dataclass
class DemoCustomer:
    customer: Customer
    signup: datetime
    weight: float
    region: str
    plan: str = ""
    users: list = field(default_factory=list)  # (external_id, provisioned_at, deprovisioned_at | None)
    active_until: datetime | None = None  # usage stops here (churned)
    computes: bool = False
    pays: bool = False


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def slug_of(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
