"""Text, positioned YAML and embedded-snippet position mapping. Knows nothing of workflows."""
