"""Scripts that derive the fakes' spec tables from the official machine-readable API specs."""
