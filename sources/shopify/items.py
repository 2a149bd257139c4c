"""Item and location lookups shared by the Shopify topics."""

from __future__ import annotations

from invsync.catalog import Catalog, MappingError
from sources.shopify.fields import JsonObject, optional_numeric_id, optional_str

VARIANT = "shopify_variant"
PRODUCT = "shopify_product"
INVENTORY_ITEM = "shopify_inventory_item"
LOCATION = "shopify_location"
# X12 product id qualifier for a seller's SKU; Shopify's sku field is one.
SELLER_SKU = "SK"


def line_item_sku(line: JsonObject, path: str, catalog: Catalog, line_id: str) -> str:
    """Map a line item to an internal SKU by variant id, then sku, then product id.

    Raises MappingError ``unmapped_item`` naming the line when none is mapped.
    A product id names every variant of the product, so it is tried last and
    suits single-variant products only.
    """
    ids: list[tuple[str, str]] = []
    variant = optional_numeric_id(line, "variant_id", path)
    if variant is not None:
        ids.append((VARIANT, variant))
    seller_sku = optional_str(line, "sku", path)
    if seller_sku is not None:
        ids.append((SELLER_SKU, seller_sku))
    product = optional_numeric_id(line, "product_id", path)
    if product is not None:
        ids.append((PRODUCT, product))

    try:
        return catalog.require_item(ids)
    except MappingError as exc:
        title = optional_str(line, "title", path) or optional_str(line, "name", path)
        label = f"line item {line_id}" + (f" ({title})" if title else "")
        msg = f"{label} at {path}: {exc}"
        raise MappingError("unmapped_item", msg) from exc


def location_warehouse(catalog: Catalog, location_id: str | None) -> str | None:
    """Return the warehouse a Shopify location id maps to, or None."""
    if location_id is None:
        return None
    return catalog.resolve_warehouse([(LOCATION, location_id)])
