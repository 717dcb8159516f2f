"""First-party plurieval plugin: hlv."""
