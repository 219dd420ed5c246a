"""gancore first-party plugin: recyclegan."""
