"""Publication of approved candidates to the London-Datastore-style bucket (S3 or a local directory)."""
