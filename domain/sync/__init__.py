"""Other systems connected to ours: API clients (machine credentials scoped to an area, `clients`) and the roster
sync they call (`roster`: areas, households, people and heads keyed by the client's own ids)."""
