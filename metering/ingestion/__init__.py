"""Event ingestion: validation (``validation``), the transaction that stores a batch (``store``) and its two
implementations (``store_postgres``, ``store_sqlite``). ``metering.services.events_ingest`` is the entry point."""
