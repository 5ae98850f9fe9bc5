"""The only code that knows the database: engine set-up, ingest, source state, queries."""
