"""The Textual UI: LimboApp and its widgets and screens."""
