"""Local S3 server (SeaweedFS) and a fault-injecting proxy for tests and the demo."""
