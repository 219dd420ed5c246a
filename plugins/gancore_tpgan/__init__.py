"""gancore first-party plugin: tpgan."""
