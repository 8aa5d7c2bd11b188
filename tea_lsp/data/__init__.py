"""Package data shipped in the wheel (the workflow JSON schema)."""
