"""metpipeline: governed monthly publication of MPS crime statistics."""
