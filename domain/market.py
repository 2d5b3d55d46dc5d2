"""The points market: catalogue, stock, redemption, pickup, cancel, expiry, reports."""
