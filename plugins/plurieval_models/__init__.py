"""First-party plurieval plugin: models."""
