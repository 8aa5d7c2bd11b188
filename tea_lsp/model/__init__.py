"""Typed workflow model built leniently from the positioned YAML tree."""
