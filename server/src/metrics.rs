//! Prometheus metrics: requests by outcome and their durations.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabel, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shouhu");
        let requests = Family::<OutcomeLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.000_5, 2.0, 16));
        registry.register(
            "graphql_requests",
            "GraphQL requests by outcome (ok or the first error code)",
            requests.clone(),
        );
        registry.register(
            "graphql_request_duration_seconds",
            "Time to answer a GraphQL request",
            duration.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
        }
    }

    pub fn observe(&self, outcome: &str, seconds: f64) {
        self.requests
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.duration.observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
