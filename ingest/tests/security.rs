//! Kafka security settings pass through `kafka.properties` to librdkafka,
//! which is built with TLS and SASL: creating the consumer and the producer
//! with them succeeds (no broker is needed to create them), and a value
//! librdkafka does not know is refused with its name.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use ratewire_ingest::{KafkaOptions, KafkaSideOutput, KafkaSource, Metrics};

fn options(properties: &[(&str, &str)]) -> KafkaOptions {
    KafkaOptions {
        brokers: "127.0.0.1:1".into(),
        group_id: "security-test".into(),
        topics: vec!["events".into()],
        dead_letter_topic: "dead-letter".into(),
        actions_topic: "actions".into(),
        fetch_max_bytes: 1 << 20,
        fetch_wait_max_ms: 5,
        properties: properties.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
    }
}

#[test]
fn tls_and_sasl_settings_are_accepted() {
    for (protocol, mechanism) in [
        ("SSL", None),
        ("SASL_SSL", Some("SCRAM-SHA-512")),
        ("SASL_SSL", Some("PLAIN")),
        ("SASL_PLAINTEXT", Some("SCRAM-SHA-256")),
    ] {
        let mut properties = vec![("security.protocol", protocol), ("ssl.endpoint.identification.algorithm", "https")];
        if let Some(mechanism) = mechanism {
            properties.extend([
                ("sasl.mechanism", mechanism),
                ("sasl.username", "ratewire"),
                ("sasl.password", "secret"),
            ]);
        }
        let options = options(&properties);
        let metrics = Arc::new(Metrics::new().unwrap());
        KafkaSource::new(&options, &[], metrics).unwrap_or_else(|e| panic!("{protocol} {mechanism:?}: {e}"));
        KafkaSideOutput::new(&options).unwrap_or_else(|e| panic!("{protocol} {mechanism:?}: {e}"));
    }
}

#[test]
fn an_unknown_security_setting_is_refused_by_name() {
    let options = options(&[("security.protocol", "QUANTUM")]);
    let error = KafkaSideOutput::new(&options).unwrap_err().to_string();
    assert!(error.contains("security.protocol"), "{error}");
}
