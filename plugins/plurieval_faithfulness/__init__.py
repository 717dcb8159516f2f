"""First-party plurieval plugin: faithfulness (attribution methods, faithfulness and plausibility metrics)."""
