//! `[target.correlation]`: how subscribers of a target other than
//! wsbench find published messages (the marker, or `json` stamps).

use serde::Deserialize;
use toml::Spanned;
use wsbench_protocol::correlation::{Clock, Correlation, JsonStamps, Unit};

use super::ScenarioError;
use super::input::Checker;

/// `[target.correlation]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCorrelation {
    by: Spanned<String>,
    #[serde(default)]
    seq: Option<Spanned<String>>,
    #[serde(default)]
    time: Option<Spanned<String>>,
    #[serde(default)]
    unit: Option<Unit>,
    #[serde(default)]
    clock: Option<Clock>,
}

/// The correlation, each value checked.
pub(super) fn correlation(
    c: &Checker<'_>,
    raw: &Spanned<RawCorrelation>,
) -> Result<Correlation, ScenarioError> {
    let r = raw.get_ref();
    match r.by.get_ref().as_str() {
        "marker" => {
            if let Some(v) = r.seq.as_ref().or(r.time.as_ref()) {
                return Err(c.at(v.span(), "seq and time apply to by = \"json\"", None));
            }
            Ok(Correlation::Marker)
        }
        "json" => {
            let pointer = |v: &Option<Spanned<String>>, what: &str| {
                match v {
                Some(p) if p.get_ref().starts_with('/') => Ok(p.get_ref().clone()),
                Some(p) => Err(c.at(
                    p.span(),
                    format!("{what}: {:?} is not a JSON pointer", p.get_ref()),
                    Some("a JSON pointer starts with /, e.g. \"/id\""),
                )),
                None => Err(c.at(
                    raw.span(),
                    format!("by = \"json\" needs {what}"),
                    Some("seq = \"/…\" (the publisher's {seq}, relayed) and time = \"/…\" (a send time)"),
                )),
            }
            };
            Ok(Correlation::Json(JsonStamps {
                seq: pointer(&r.seq, "seq")?,
                time: pointer(&r.time, "time")?,
                unit: r.unit.unwrap_or(Unit::Ms),
                clock: r.clock.unwrap_or(Clock::Unix),
            }))
        }
        other => Err(c.at(
            r.by.span(),
            format!("by = {other:?} is not a correlation"),
            Some("\"marker\" (the default) or \"json\""),
        )),
    }
}
