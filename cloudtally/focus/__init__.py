"""The FOCUS specification as data: columns per version and the canonical schema."""
