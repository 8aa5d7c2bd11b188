"""Python snippets: their runtime (``runtime``) and their checker half."""
