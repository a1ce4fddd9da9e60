import threading
import uuid

import pytest

from metpipeline.bucket import LocalStore, ObjectExists, PreconditionFailed, S3Store, open_store

pytestmark = []


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "bucket")
    server = request.getfixturevalue("s3_server")
    return S3Store(server.bucket, f"t-{uuid.uuid4().hex[:8]}", endpoint_url=server.endpoint_url)


def test_create_only_accepts_identical_bytes_and_refuses_different(store):
    assert store.put_create_only("datasets/x/2024-03/v1/a.csv", b"a,b\n1,2\n") is True
    assert store.put_create_only("datasets/x/2024-03/v1/a.csv", b"a,b\n1,2\n") is False
    with pytest.raises(ObjectExists, match="different bytes"):
        store.put_create_only("datasets/x/2024-03/v1/a.csv", b"a,b\n1,3\n")
    assert store.get("datasets/x/2024-03/v1/a.csv").data == b"a,b\n1,2\n"
    assert store.get("datasets/x/absent.csv") is None


def test_compare_and_swap(store):
    etag = store.put_if_match("latest.json", b"{}", None)
    with pytest.raises(PreconditionFailed):
        store.put_if_match("latest.json", b'{"x": 1}', None)  # creation only when absent
    new = store.put_if_match("latest.json", b'{"v": 1}', etag)
    with pytest.raises(PreconditionFailed):
        store.put_if_match("latest.json", b'{"v": 2}', etag)  # stale ETag loses
    assert store.get("latest.json").etag == new and store.get("latest.json").data == b'{"v": 1}'


def test_only_one_of_concurrent_swaps_wins(store):
    etag = store.put_if_match("catalog.json", b"{}", None)
    outcomes = []

    def swap(i):
        try:
            store.put_if_match("catalog.json", f'{{"by": {i}}}'.encode(), etag)
            outcomes.append("won")
        except PreconditionFailed:
            outcomes.append("lost")

    threads = [threading.Thread(target=swap, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("won") == 1


def test_open_store_picks_the_implementation(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    s3 = open_store("s3://bucket/some/prefix", "http://127.0.0.1:1")
    assert isinstance(s3, S3Store) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")


def test_s3_keeps_the_sha256_of_the_bytes_sent(s3_server):
    # Every write carries ChecksumSHA256 of the bytes sent; S3 verifies it on receipt and keeps it. (moto
    # keeps it but does not verify a wrong one, so this shows what is sent and stored, not S3's check.)
    import base64
    import hashlib

    store = S3Store(s3_server.bucket, f"t-{uuid.uuid4().hex[:8]}", endpoint_url=s3_server.endpoint_url)
    payload = b"MajorText,MinorText,BoroughName\nTHEFT,SHOPLIFTING,Camden\n"
    store.put_create_only("datasets/x/2024-03/v1/a.csv", payload)
    head = s3_server.client().head_object(
        Bucket=s3_server.bucket, Key=f"{store.prefix}/datasets/x/2024-03/v1/a.csv", ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(payload).digest()).decode()
