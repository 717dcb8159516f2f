"""First-party plurieval plugin: polyrefuse."""
