"""Embedded languages: the sandboxed Lua VM (``lua``) and the Jinja environment (``jinja``).

``langs/lua.py`` is the only module that imports ``lupa``; the ``langs/jinja/`` package is the
only one that imports ``jinja2``. The checker and the runner both build their VMs and
environments here, so what the checker accepts is exactly what the runner executes.
"""
