"""First-party plurieval plugin: steering."""
