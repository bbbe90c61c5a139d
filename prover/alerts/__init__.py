"""Alerts: the conditions an operator is paged for (``rules``, pure) become
alerts that fire once and resolve when they clear (``book``), delivered to
webhooks and Alertmanager without holding up whoever raised them
(``delivery``)."""

from prover.alerts.book import Alert, AlertBook
from prover.alerts.delivery import Deliverer, Receiver

__all__ = ["Alert", "AlertBook", "Deliverer", "Receiver"]
