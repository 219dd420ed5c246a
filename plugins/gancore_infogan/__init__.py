"""gancore first-party plugin: infogan."""
