"""plurieval-example: a complete third-party plugin in three small files."""
