"""Model adapters: one module per provider, found through entry points."""
