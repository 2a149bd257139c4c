"""X12 EDI adapter: interchanges of 846, 850, 856, 940, 943, 944, 945 and 947 sets.

``parse`` turns the bytes of an X12 file into canonical events and dead
letters. The modules split the work by concept. ``tokenizer`` reads the
separators and segments, and ``envelope`` checks the ISA/GS/ST structure and
control numbers. ``dates`` reads dates and times, ``context`` provides what a
mapper needs, and ``mapping`` dispatches each transaction set to ``orders``,
``shipments`` or ``inventory``. ``docs/x12.md`` describes the rules.
"""

from sources.x12.adapter import parse

__all__ = ["parse"]
