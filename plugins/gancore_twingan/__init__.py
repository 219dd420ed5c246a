"""gancore first-party plugin: twingan."""
