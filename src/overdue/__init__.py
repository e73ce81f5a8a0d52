"""overdue: which negotiation approaches work for overdue debtors, for whom, and how sure we are."""

__version__ = "0.1.0"
