"""First-party plurieval plugin: resources."""
