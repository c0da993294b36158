//! Oozie's JSON, as json-simple writes it: the 18 keys of a workflow job,
//! the 20 or 23 of an action, the coordinator job, list envelopes, RFC 822
//! dates in the requested time zone, `toString`, and `/` escaped as `\/`.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};

use crate::state::{Action, Coordinator, Flavor, Workflow};

/// A `timezone=` value: Java's short zone ids with fixed offsets. Java
/// answers GMT for an id it does not know, and so does this.
#[derive(Clone, Copy, Debug)]
pub struct Tz {
    pub name: &'static str,
    offset_secs: i32,
}

impl Tz {
    pub const GMT: Tz = Tz { name: "GMT", offset_secs: 0 };

    pub fn parse(id: Option<&str>) -> Tz {
        const ZONES: &[(&str, i32)] = &[
            ("GMT", 0),
            ("UTC", 0),
            ("EST", -5 * 3600),
            ("EDT", -4 * 3600),
            ("CST", -6 * 3600),
            ("MST", -7 * 3600),
            ("PST", -8 * 3600),
            ("CET", 3600),
            ("IST", 5 * 3600 + 1800),
            ("JST", 9 * 3600),
        ];
        let Some(id) = id else { return Tz::GMT };
        ZONES
            .iter()
            .find(|(n, _)| *n == id)
            .map_or(Tz::GMT, |(name, offset_secs)| Tz { name, offset_secs: *offset_secs })
    }

    /// `EEE, dd MMM yyyy HH:mm:ss zzz`, Locale.US.
    pub fn format(&self, at: DateTime<Utc>) -> String {
        let offset = FixedOffset::east_opt(self.offset_secs).unwrap_or(FixedOffset::east_opt(0).expect("zero offset"));
        format!("{} {}", at.with_timezone(&offset).format("%a, %d %b %Y %H:%M:%S"), self.name)
    }

    fn date(&self, at: Option<DateTime<Utc>>) -> Value {
        at.map_or(Value::Null, |t| Value::String(self.format(t)))
    }
}

/// The job configuration as Oozie prints it in `conf`: `\r\n` line ends.
pub fn conf_xml(conf: &[(String, String)]) -> String {
    let mut out = String::from("<configuration>\r\n");
    for (name, value) in conf {
        out.push_str(&format!(
            "  <property>\r\n    <name>{}</name>\r\n    <value>{}</value>\r\n  </property>\r\n",
            escape(name),
            escape(value)
        ));
    }
    out.push_str("</configuration>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `WorkflowJobBean.toJSONObject`. `list_item`: as in `/jobs`, with
/// `appPath`, `conf` null and no actions.
pub fn workflow(
    wf: &Workflow,
    base_url: &str,
    tz: Tz,
    flavor: Flavor,
    list_item: bool,
    page: Option<(usize, usize)>,
) -> Value {
    let actions: Vec<Value> = if list_item {
        Vec::new()
    } else {
        let (offset, len) = page.unwrap_or((1, usize::MAX));
        wf.actions.iter().skip(offset.saturating_sub(1)).take(len).map(|a| action(a, tz, flavor)).collect()
    };
    json!({
        "appPath": if list_item { Value::Null } else { json!(wf.app_path) },
        "acl": wf.acl,
        "status": wf.status.as_str(),
        "createdTime": tz.date(Some(wf.created)),
        "conf": if list_item { Value::Null } else { json!(conf_xml(&wf.conf)) },
        "lastModTime": tz.date(Some(wf.last_mod)),
        "run": wf.run,
        "endTime": tz.date(wf.ended),
        "externalId": wf.external_id,
        "appName": wf.app_name,
        "id": wf.id,
        "startTime": tz.date(wf.started),
        "parentId": wf.parent_id,
        "toString": format!("Workflow id[{}] status[{}]", wf.id, wf.status.as_str()),
        "group": wf.group,
        "consoleUrl": format!("{base_url}?job={}", wf.id),
        "user": wf.user,
        "actions": actions,
    })
}

/// `WorkflowActionBean.toJSONObject`.
pub fn action(a: &Action, tz: Tz, flavor: Flavor) -> Value {
    let mut v = json!({
        "errorMessage": a.error_message,
        "status": a.status,
        "stats": null,
        "data": null,
        "transition": a.transition,
        "externalStatus": a.external_status,
        // Oozie 4.x prints the credentials name with String.valueOf.
        "cred": "null",
        "conf": a.conf,
        "type": a.kind,
        "endTime": tz.date(a.end),
        "externalId": a.external_id,
        "id": a.id,
        "startTime": tz.date(a.start),
        "externalChildIDs": null,
        "name": a.name,
        "errorCode": a.error_code,
        "trackerUri": a.tracker_uri,
        "retries": 0,
        "toString": format!("Action name[{}] status[{}]", a.name, a.status),
        "consoleUrl": a.console_url,
    });
    if flavor == Flavor::Current {
        let map = v.as_object_mut().expect("an object");
        map.insert("userRetryCount".into(), json!(0));
        map.insert("userRetryMax".into(), json!(0));
        map.insert("userRetryInterval".into(), json!(10));
    }
    v
}

/// `CoordinatorJobBean.toJSONObject` (no actions are ever materialized here).
pub fn coordinator(c: &Coordinator, tz: Tz, list_item: bool) -> Value {
    json!({
        "total": 0,
        "pauseTime": null,
        "coordJobName": c.def.name,
        "coordJobPath": c.path,
        "timeZone": c.def.timezone,
        "frequency": c.def.frequency,
        "conf": if list_item { Value::Null } else { json!(conf_xml(&c.conf)) },
        "endTime": tz.date(c.end),
        "executionPolicy": c.def.execution,
        "startTime": tz.date(c.start),
        "timeUnit": c.def.time_unit,
        "concurrency": c.def.concurrency,
        "coordJobId": c.id,
        "lastAction": tz.date(c.start),
        "status": c.status.as_str(),
        "acl": null,
        "mat_throttling": c.def.throttle,
        "timeOut": c.def.timeout,
        "nextMaterializedTime": tz.date(c.start),
        "bundleId": null,
        "toString": format!("Coordinator application id[{}] status[{}]", c.id, c.status.as_str()),
        "coordExternalId": null,
        "group": null,
        "user": c.user,
        "consoleUrl": null,
        "actions": [],
    })
}

/// `{"total", "<key>", "len", "offset"}`.
pub fn list(key: &str, items: Vec<Value>, total: usize, offset: usize, len: usize) -> Value {
    let mut map = Map::new();
    map.insert("total".into(), json!(total));
    map.insert(key.into(), Value::Array(items));
    map.insert("len".into(), json!(len));
    map.insert("offset".into(), json!(offset));
    Value::Object(map)
}

/// json-simple escapes `/`; so does this (it occurs only inside strings).
pub fn body(value: &Value) -> String {
    value.to_string().replace('/', "\\/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_rfc822_in_the_requested_zone() {
        let t = Utc.with_ymd_and_hms(2016, 5, 5, 12, 23, 45).unwrap();
        assert_eq!(Tz::GMT.format(t), "Thu, 05 May 2016 12:23:45 GMT");
        assert_eq!(Tz::parse(Some("EST")).format(t), "Thu, 05 May 2016 07:23:45 EST");
        assert_eq!(Tz::parse(Some("Mars/Olympus")).format(t), "Thu, 05 May 2016 12:23:45 GMT");
    }

    #[test]
    fn slashes_are_escaped() {
        assert_eq!(body(&json!({"u": "http://h/x"})), r#"{"u":"http:\/\/h\/x"}"#);
    }
}
