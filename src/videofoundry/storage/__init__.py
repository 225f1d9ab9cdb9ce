"""Object storage for every video asset: local files or any S3 API."""
