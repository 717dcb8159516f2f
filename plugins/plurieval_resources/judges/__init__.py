"""Judge validation: the labelled set, agreement statistics, and the `plurieval judge` commands."""
