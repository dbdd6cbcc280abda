"""GET /healthz, /readyz and /metrics (Prometheus counts and latency by endpoint and status)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_docs import ALL_SOURCES

from ingest.settings import DEFAULT_MODEL

pytestmark = pytest.mark.usefixtures("hermetic")

Labels = tuple[str, str, str]  # endpoint, method, status


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_index(client, built) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    ready = response.json()
    assert ready["status"] == "ready"
    assert ready["index_version"] == built.version
    assert ready["documents"] == len(ALL_SOURCES) == built.documents
    assert ready["passages"] == built.passages
    assert ready["model"] == DEFAULT_MODEL
    assert ready["created_at"]
    assert ready["passages"] == sum(d["passage_count"] for d in client.get("/documents").json())


def scrape(client) -> tuple[dict[Labels, float], dict[Labels, float], dict[Labels, float], str]:
    """Request counts, latency observation counts and latency sums, by label set."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts: dict[Labels, float] = {}
    observed: dict[Labels, float] = {}
    sums: dict[Labels, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = (sample.labels.get("endpoint"), sample.labels.get("method"), sample.labels.get("status"))
            if sample.name == "clausewise_requests_total":
                counts[labels] = sample.value
            elif sample.name == "clausewise_request_duration_seconds_count":
                observed[labels] = sample.value
            elif sample.name == "clausewise_request_duration_seconds_sum":
                sums[labels] = sample.value
    return counts, observed, sums, response.text


def delta(after: dict[Labels, float], before: dict[Labels, float]) -> dict[Labels, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def test_metrics_count_requests_by_endpoint_method_and_status(client, doc_ids) -> None:
    counts_before, observed_before, sums_before, _ = scrape(client)
    some_doc = next(iter(doc_ids.values()))
    calls = [
        ("POST", "/ask", {"json": {"question": "When does the ferry depart?"}}, 200),
        ("POST", "/ask", {"json": {"question": "Who may return?", "top_k": 2}}, 200),
        ("POST", "/ask", {"json": {"question": ""}}, 422),
        ("POST", "/ask", {"content": b"{", "headers": {"content-type": "application/json"}}, 422),
        ("GET", "/ask", {}, 405),
        ("GET", "/documents", {}, 200),
        ("GET", f"/documents/{some_doc}", {}, 200),
        ("GET", "/documents/no-such-document", {}, 404),
        ("GET", "/passages/no-such-passage", {}, 404),
        ("GET", "/readyz", {}, 200),
        ("GET", "/healthz", {}, 200),
        ("GET", "/no-such-page-7f3a", {}, 404),
    ]
    for method, path, kwargs, status in calls:
        assert client.request(method, path, **kwargs).status_code == status, path
    counts_after, observed_after, sums_after, text = scrape(client)

    expected = {
        ("/ask", "POST", "200"): 2,
        ("/ask", "POST", "422"): 2,
        ("/ask", "GET", "405"): 1,
        ("/documents", "GET", "200"): 1,
        ("/documents/{doc_id}", "GET", "200"): 1,  # the route template, not the id
        ("/documents/{doc_id}", "GET", "404"): 1,
        ("/passages/{passage_id}", "GET", "404"): 1,
        ("/readyz", "GET", "200"): 1,
        ("/healthz", "GET", "200"): 1,
        ("unmatched", "GET", "404"): 1,
        ("/metrics", "GET", "200"): 1,  # the first scrape
    }
    assert delta(counts_after, counts_before) == expected
    assert delta(observed_after, observed_before) == expected
    for labels in expected:
        assert sums_after[labels] >= sums_before.get(labels, 0.0)
    assert sums_after[("/ask", "POST", "200")] > sums_before.get(("/ask", "POST", "200"), 0.0)
    # Unmatched paths and ids do not become label values (unbounded cardinality).
    assert "no-such-page-7f3a" not in text and "no-such-document" not in text and some_doc not in text


def test_latency_histogram_has_buckets(client) -> None:
    client.post("/ask", json={"question": "When does the ferry depart?"})
    families = {f.name: f for f in text_string_to_metric_families(scrape(client)[3])}
    histogram = families["clausewise_request_duration_seconds"]
    assert histogram.type == "histogram"
    buckets = [
        s
        for s in histogram.samples
        if s.name.endswith("_bucket") and s.labels["endpoint"] == "/ask" and s.labels["status"] == "200"
    ]
    assert len(buckets) >= 5 and any(s.labels["le"] == "+Inf" for s in buckets)
    values = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
    assert values == sorted(values)  # cumulative
