"""First-party plurieval plugin: mlflow."""
