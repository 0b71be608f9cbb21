"""Test-only helpers importable by configs through custom_imports (tests.helpers.*)."""
