"""The plugin framework: hook specification, the typed facade that calls it, the core defaults."""
