"""Business rules: async functions that own transactions, permission checks and audit (no Textual)."""
