"""HTTP only: pages per area of the product, and the JSON API under `api/`."""
