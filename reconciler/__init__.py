"""reconciler: declarative order reconciliation for the Polymarket CLOB."""

__version__ = "0.1.0"
