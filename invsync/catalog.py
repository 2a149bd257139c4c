"""Lookups over the configuration: item aliases, units, partners and locations.

Adapters call these instead of reading the configuration themselves, so every
adapter maps identifiers the same way and raises the same dead-letter classes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from invsync.config import WMS_SOURCE, InvsyncConfig, PartnerRole

MAX_QUANTITY = 10**12
"""Largest base-unit quantity one document line may carry. Larger values are
typing errors, and their sums would overflow the 64-bit integers of Avro."""

# Plain ASCII decimals: no exponent, no digit separators, no other scripts.
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


class MappingError(ValueError):
    """Raised when input cannot be mapped; ``error_class`` is the dead-letter class."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def check_quantity_limit(base: int | Decimal, described: str) -> None:
    """Raise MappingError ``invalid_quantity`` when ``base`` exceeds MAX_QUANTITY.

    ``base`` is in base units and is compared by magnitude, so signed deltas are
    bounded too. ``described`` names the value and starts the message, for
    example ``"5 CS of TEE-RED-M"``.
    """
    size = abs(Decimal(base))
    if size > MAX_QUANTITY:
        magnitude = " in magnitude" if size != base else ""
        msg = (
            f"{described} is {base} base units, more than the limit of "
            f"{MAX_QUANTITY}{magnitude}"
        )
        raise MappingError("invalid_quantity", msg)


class Catalog:
    """Indexed view of an :class:`InvsyncConfig` for adapters."""

    def __init__(self, config: InvsyncConfig) -> None:
        self.config = config
        self._items: dict[tuple[str, str], str] = {}
        for sku, item in config.items.items():
            self._items[("SKU", sku)] = sku
            for alias in item.aliases:
                self._items[(alias.qualifier.upper(), alias.value)] = sku
        self._partners: dict[tuple[str, str], str] = {}
        for partner_id, partner in config.partners.items():
            for party in partner.ids:
                self._partners[(party.qualifier.upper(), party.value)] = partner_id
        self._locations: dict[tuple[str, str], str] = {}
        for code, warehouse in config.warehouses.items():
            for location in warehouse.locations:
                self._locations[(location.qualifier.upper(), location.value)] = code

    def resolve_item(self, qualifier: str, value: str) -> str | None:
        """Return the SKU for an item id, or None when the alias map has none."""
        return self._items.get((qualifier.upper(), value.strip()))

    def require_item(self, ids: list[tuple[str, str]]) -> str:
        """Return the SKU of the first mapped (qualifier, id) pair, or raise.

        Raises MappingError ``unmapped_item`` naming every pair tried.
        """
        for qualifier, value in ids:
            sku = self.resolve_item(qualifier, value)
            if sku is not None:
                return sku
        tried = ", ".join(f"{q}:{v}" for q, v in ids) or "no item id"
        msg = f"no SKU is mapped for {tried}; add an alias under items in the config"
        raise MappingError("unmapped_item", msg)

    def to_base_units(self, sku: str, quantity: Decimal | str | int, uom: str) -> int:
        """Convert a quantity in a unit of measure to whole base units.

        Raises MappingError ``unknown_unit`` or ``invalid_quantity``.
        """
        text = str(quantity)
        if not isinstance(quantity, int | Decimal) and not _DECIMAL.fullmatch(text):
            msg = f"quantity {quantity!r} of {sku} is not a plain decimal number"
            raise MappingError("invalid_quantity", msg)
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            msg = f"quantity {quantity!r} of {sku} is not a number"
            raise MappingError("invalid_quantity", msg) from exc
        if not amount.is_finite():
            msg = f"quantity {quantity!r} of {sku} is not finite"
            raise MappingError("invalid_quantity", msg)
        units = self.config.items[sku].units if sku in self.config.items else {}
        code = (uom or "EA").strip().upper()
        factor = units.get(code)
        if factor is None and code == "EA":
            factor = 1
        if factor is None:
            msg = (
                f"unit {code!r} of {sku} has no conversion; add it under "
                f"items.{sku}.units in the config"
            )
            raise MappingError("unknown_unit", msg)
        base = amount * factor
        if base != base.to_integral_value():
            msg = f"{quantity} {code} of {sku} is {base} base units, not a whole number"
            raise MappingError("invalid_quantity", msg)
        check_quantity_limit(base, f"{quantity} {code} of {sku}")
        return int(base)

    def resolve_partner(self, ids: list[tuple[str, str]]) -> str | None:
        """Return the partner named by the first matching (qualifier, id) pair."""
        for qualifier, raw in ids:
            value = raw.strip()
            partner = self._partners.get((qualifier.upper(), value))
            if partner is None:
                partner = self._partners.get(("", value))
            if partner is not None:
                return partner
        return None

    def require_partner(self, ids: list[tuple[str, str]]) -> str:
        """Return the partner for the ids, or raise MappingError ``unmapped_party``."""
        partner = self.resolve_partner(ids)
        if partner is None:
            tried = ", ".join(f"{q}:{v.strip()}" for q, v in ids) or "no party id"
            msg = f"no partner is configured for {tried}; add it under partners.*.ids"
            raise MappingError("unmapped_party", msg)
        return partner

    def is_self(self, ids: list[tuple[str, str]]) -> bool | None:
        """Tell whether any id is one of the distributor's own EDI identities.

        Returns None when the configuration lists no own identities.
        """
        own = self.config.self_ids
        if not own:
            return None
        for qualifier, raw in ids:
            value = raw.strip()
            for party in own:
                if party.value == value and party.qualifier in ("", qualifier.strip()):
                    return True
        return False

    def resolve_warehouse(self, ids: list[tuple[str, str]]) -> str | None:
        """Return the internal warehouse for the first matching location id."""
        for qualifier, raw in ids:
            value = raw.strip()
            if value in self.config.warehouses:
                return value
            code = self._locations.get((qualifier.upper(), value))
            if code is None:
                code = self._locations.get(("", value))
            if code is not None:
                return code
        return None

    def require_warehouse(self, ids: list[tuple[str, str]]) -> str:
        """Return the warehouse for the ids, or raise ``unmapped_party``."""
        code = self.resolve_warehouse(ids)
        if code is None:
            tried = ", ".join(f"{q}:{v.strip()}" for q, v in ids) or "no location id"
            msg = (
                f"no warehouse is configured for {tried}; add it under "
                "warehouses.*.locations"
            )
            raise MappingError("unmapped_party", msg)
        return code

    def role(self, partner: str, transaction_set: str | None = None) -> PartnerRole:
        """Return a configured partner's role for a transaction set."""
        return self.config.partners[partner].role_for(transaction_set)

    def is_on_hand_source(self, warehouse: str, source: str) -> bool:
        """Tell whether ``source`` ('wms' or a partner id) sets on hand at warehouse."""
        config = self.config.warehouses.get(warehouse)
        if config is None:
            return False
        return config.on_hand_source == source

    def warehouses_of_3pl(self, partner: str) -> list[str]:
        """Return the warehouses whose on-hand source is the given 3PL partner."""
        return [
            code
            for code, warehouse in self.config.warehouses.items()
            if warehouse.on_hand_source == partner and partner != WMS_SOURCE
        ]
