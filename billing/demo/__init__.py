"""Demo data for the cockpit's first run (``python manage.py seed_demo``); ``seed.py`` tells the story."""

from billing.demo.seed import DemoExists, demo_seed

__all__ = ["DemoExists", "demo_seed"]
