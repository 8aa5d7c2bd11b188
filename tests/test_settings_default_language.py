"""``tea.defaultLanguage``: validated like every other setting, and handed to the checker."""

from __future__ import annotations

from tea_lsp.lsp.settings import Settings, parse_settings


def test_default_language_setting() -> None:
    assert parse_settings({"tea": {"defaultLanguage": "python"}}) == (
        Settings(default_language="python"),
        [],
    )
    assert parse_settings({"defaultLanguage": "perl"}) == (
        Settings(),
        [
            "invalid setting 'tea.defaultLanguage': expected 'auto', 'python' or 'lua', "
            "got 'perl'; using the default ('auto')"
        ],
    )
    assert parse_settings({"defaultLanguag": "lua"})[1] == [
        "unknown setting 'tea.defaultLanguag'; did you mean 'defaultLanguage'?; it is ignored"
    ]
