"""Configuration: settings, the prompt registry and the shipped YAML data."""
