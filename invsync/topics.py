"""Kafka topic names and which record types travel on each.

Input records are keyed by SKU (``WarehouseSetting`` by warehouse code), so all
events of one SKU land in one partition of each topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from invsync.events import (
    CanonicalEvent,
    ChannelInventoryLevel,
    ErpBalanceSnapshot,
    ErpPostingAck,
    InventoryMovement,
    InventorySnapshot,
    OrderAllocation,
    OrderFulfillment,
    OrderLine,
    SafetyStockSetting,
    SupplyAdvice,
    WarehouseHeartbeat,
    WarehouseSetting,
)


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix."""

    prefix: str = "invsync."

    @property
    def wms(self) -> str:
        """Inventory movements and snapshots from each warehouse's on-hand source."""
        return f"{self.prefix}wms"

    @property
    def orders(self) -> str:
        """Order lines, allocations and channel fulfillments."""
        return f"{self.prefix}orders"

    @property
    def supply(self) -> str:
        """Inbound supply advice."""
        return f"{self.prefix}supply"

    @property
    def settings(self) -> str:
        """Safety stock and warehouse settings."""
        return f"{self.prefix}settings"

    @property
    def channel(self) -> str:
        """Channel inventory levels, recorded for comparison."""
        return f"{self.prefix}channel"

    @property
    def erp(self) -> str:
        """ERP balance snapshots and posting acknowledgments."""
        return f"{self.prefix}erp"

    @property
    def postings(self) -> str:
        """ERP postings (output)."""
        return f"{self.prefix}erp-postings"

    @property
    def exceptions(self) -> str:
        """Backorder and oversell exceptions (output)."""
        return f"{self.prefix}exceptions"

    @property
    def dead_letters(self) -> str:
        """Dead letters from adapters and the dataflow (output)."""
        return f"{self.prefix}dead-letters"

    @property
    def variance_alerts(self) -> str:
        """ERP/WMS variance alerts (output), keyed for compaction."""
        return f"{self.prefix}variance-alerts"

    @property
    def freshness(self) -> str:
        """Warehouse freshness changes, STALE and FRESH (output)."""
        return f"{self.prefix}freshness-alerts"

    def inputs(self) -> list[str]:
        """Return every input topic the dataflow consumes."""
        return [
            self.wms,
            self.orders,
            self.supply,
            self.settings,
            self.channel,
            self.erp,
        ]

    def outputs(self) -> list[str]:
        """Return every output topic the dataflow produces."""
        return [
            self.postings,
            self.exceptions,
            self.dead_letters,
            self.variance_alerts,
            self.freshness,
        ]

    def for_event(self, event: CanonicalEvent) -> str:
        """Return the input topic of a canonical event."""
        if isinstance(event, InventoryMovement | InventorySnapshot):
            return self.wms
        if isinstance(event, WarehouseHeartbeat):
            return self.wms
        if isinstance(event, OrderLine | OrderAllocation | OrderFulfillment):
            return self.orders
        if isinstance(event, SupplyAdvice):
            return self.supply
        if isinstance(event, SafetyStockSetting | WarehouseSetting):
            return self.settings
        if isinstance(event, ChannelInventoryLevel):
            return self.channel
        if isinstance(event, ErpBalanceSnapshot | ErpPostingAck):
            return self.erp
        msg = f"no topic for event type {type(event).__name__}"
        raise TypeError(msg)


def event_key(event: CanonicalEvent) -> str:
    """Return the Kafka key of an input event: its SKU, or its warehouse code."""
    if isinstance(event, WarehouseSetting | WarehouseHeartbeat):
        return f"warehouse:{event.warehouse}"
    sku = getattr(event, "sku", None)
    if not isinstance(sku, str):
        msg = f"{type(event).__name__} has no SKU to key by"
        raise TypeError(msg)
    return sku
