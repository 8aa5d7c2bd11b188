"""Embedded languages: Lua (``lua``), Python (``python``) and Jinja (``jinja``).

``langs/lua/`` is the only package that imports ``lupa``; ``langs/jinja/`` the only one that
imports ``jinja2``; ``langs/python/`` the only place that compiles Python snippets. The checker
and the runner both build their VMs and environments here, so what the checker accepts is
exactly what the runner executes. ``detect`` decides which language a node's code is in.
"""
