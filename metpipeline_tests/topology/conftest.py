from metpipeline_tests.fixtures.postgres import postgres_url  # noqa: F401  (session fixture)
from metpipeline_tests.fixtures.s3 import s3_server  # noqa: F401  (session fixture: moto on loopback)
