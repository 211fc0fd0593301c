//! A namespace's events, oldest first: the kubelet's and scheduler's side of a failure
//! (FailedCreatePodSandBox from the CNI, readiness probe failures, FailedScheduling).

use super::{ApiContext, ClusterError};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams};

pub async fn list_events(client: &Client, namespace: &str) -> Result<Vec<Event>, ClusterError> {
    let mut events = Api::<Event>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .doing(|| format!("listing events in namespace {namespace}"))?
        .items;
    events.sort_by_key(last_seen);
    Ok(events)
}

/// The last warning about `pod`, as `Reason: message`.
pub fn last_warning_for(events: &[Event], pod: &str) -> Option<String> {
    events
        .iter()
        .rev()
        .find(|event| {
            event.type_.as_deref() == Some("Warning")
                && event.involved_object.kind.as_deref() == Some("Pod")
                && event.involved_object.name.as_deref() == Some(pod)
        })
        .map(|event| {
            format!(
                "{}: {}",
                event.reason.as_deref().unwrap_or("Warning"),
                event.message.as_deref().unwrap_or_default().trim()
            )
        })
}

/// One line per event: `time type reason kind/name (xN): message`.
pub fn format_event(event: &Event) -> String {
    let object = &event.involved_object;
    let count = event
        .count
        .filter(|count| *count > 1)
        .map(|count| format!(" (x{count})"))
        .unwrap_or_default();
    format!(
        "{} {} {} {}/{}{count}: {}",
        last_seen(event).map_or_else(|| "-".to_string(), |time| time.to_string()),
        event.type_.as_deref().unwrap_or("-"),
        event.reason.as_deref().unwrap_or("-"),
        object.kind.as_deref().unwrap_or("-"),
        object.name.as_deref().unwrap_or("-"),
        event.message.as_deref().unwrap_or_default().trim()
    )
}

/// Old-style events set the timestamps, events.k8s.io ones only `eventTime`.
fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|time| time.0)
        .or_else(|| event.event_time.as_ref().map(|time| time.0))
        .or_else(|| event.first_timestamp.as_ref().map(|time| time.0))
        .or_else(|| {
            event
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|time| time.0)
        })
}
