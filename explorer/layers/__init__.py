"""The layer kinds: one module per family, each answering the same questions (base.Layer)."""
