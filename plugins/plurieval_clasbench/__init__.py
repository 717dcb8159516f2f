"""First-party plurieval plugin: clasbench."""
