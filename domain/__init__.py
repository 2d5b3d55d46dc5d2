"""Rules and workflows, one module per capability. Functions flush, never commit: the caller commits."""
