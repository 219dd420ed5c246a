"""gancore first-party plugin: translation."""
