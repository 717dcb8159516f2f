"""First-party plurieval plugin: litex."""
