//! A shipment on its way: `record handover` and `record readings`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use clap::Args;
use waybill_core::entry::{Body, Handover, Readings};
use waybill_core::gs1::ShipmentId;
use waybill_core::sensor::{self, Measure, Range, Series, MAX_READINGS};

use super::args::{doc_refs, milli, serde_name, PlaceArgs, TransportArgs};
use super::{entry_file, finish, member_name, party, Common};
use crate::util;

// ---------------------------------------------------------------------------
// handover

/// `record handover`.
#[derive(Args, Debug)]
#[command(after_long_help = HANDOVER_EXAMPLE)]
pub struct HandoverArgs {
    /// The shipment, e.g. `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: ShipmentId,
    /// The next carrier, who takes the shipment over: a member with the
    /// carrier role (name or public key), e.g. `--to "North Sea Feeders"`.
    /// It must co-sign the entry.
    #[arg(long, value_name = "CARRIER")]
    to: String,
    /// A document (transshipment notice, new bill of lading, …),
    /// FILE[:LABEL], e.g. `--document tsn.pdf`. Repeat for each.
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
    /// Where it changes hands (a port, a hub).
    #[command(flatten)]
    at: PlaceArgs,
    /// The next leg's transport facts.
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    common: Common,
}

const HANDOVER_EXAMPLE: &str = "\
Example: transshipment in Rotterdam to a feeder carrier, who co-signs:
  waybill record handover -g genesis.toml -k ocean.pem --data-dir ledger \\
      --shipment '(00)077099980000000018' --to 'North Sea Feeders' \\
      --country NL --place 'Port of Rotterdam' --vessel-imo 9074729 --voyage 22N \\
      --departed-at 2026-10-21T08:00:00Z -o handover.json
  waybill cosign handover.json -k feeder.pem -g genesis.toml
  waybill ledger append --data-dir ledger handover.json
Recorded by the carrier holding the shipment; the next carrier co-signs it.";

/// Records a handover, and says who must co-sign it.
pub fn handover(a: &HandoverArgs) -> Result<()> {
    let mut next = String::new();
    finish(&a.common, |g| {
        let to = party(&a.common, g, "--to", &a.to)?;
        next = member_name(&a.common, g, &to);
        Ok(Body::Handover(Handover {
            shipment: a.shipment.clone(),
            to,
            at: a.at.location()?,
            transport: a.transport.transport()?,
            documents: doc_refs(&a.common, "--document", &a.documents)?,
        }))
    })?;
    eprintln!(
        "next: the next carrier `{next}` must co-sign this handover of shipment {} before it is submitted or appended:\n  waybill cosign {} -k NEXT-CARRIER.pem -g {}",
        a.shipment,
        entry_file(&a.common),
        a.common.genesis.display()
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// readings

/// `record readings`.
#[derive(Args, Debug)]
#[command(after_long_help = READINGS_EXAMPLE)]
pub struct ReadingsArgs {
    /// The shipment, e.g. `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: ShipmentId,
    /// The device's id (serial number, GIAI, …), e.g. `--device LOGGER-7731`.
    #[arg(long)]
    device: String,
    /// What it measures: temperature or relative_humidity, e.g. `--measure temperature`.
    #[arg(long, value_parser = serde_name::<Measure>)]
    measure: Measure,
    /// The values' UN/CEFACT unit: CEL, FAH or KEL for a temperature, P1
    /// (percent) for a relative humidity; e.g. `--unit CEL`.
    #[arg(long)]
    unit: String,
    /// The lowest value the goods may see, in --unit (up to three
    /// decimals), e.g. `--min -2`. With --max; readings outside the range
    /// are excursions, shown on lookups.
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "max",
        value_name = "VALUE"
    )]
    min: Option<String>,
    /// The highest value the goods may see, e.g. `--max 8` (with --min).
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "min",
        value_name = "VALUE"
    )]
    max: Option<String>,
    /// The readings: a CSV file of `time,value` lines, time in RFC 3339
    /// (2026-10-03T06:00:00Z) or ms since 1970, value a decimal in --unit
    /// with up to three decimals (-18.5); times strictly increasing, at
    /// most 4096 lines, a header line and `#` comments allowed. E.g.
    /// `--csv logger-7731.csv`.
    #[arg(long, value_name = "FILE.csv")]
    csv: PathBuf,
    #[command(flatten)]
    common: Common,
}

const READINGS_EXAMPLE: &str = "\
Example: a reefer logger's temperatures, to stay within 2 to 8 °C:
  waybill record readings -g genesis.toml -k ocean.pem --data-dir ledger \\
      --shipment '(00)077099980000000018' --device LOGGER-7731 \\
      --measure temperature --unit CEL --min 2 --max 8 --csv logger-7731.csv -o readings.json
with logger-7731.csv:
  time,value
  2026-10-03T06:00:00Z,4.5
  2026-10-03T07:00:00Z,9.25
Recorded by the shipment's sender, its consignee or its current carrier.";

/// The largest CSV file read.
const MAX_CSV_BYTES: u64 = 4 * 1024 * 1024;

/// Records a series of readings.
pub fn readings(a: &ReadingsArgs) -> Result<()> {
    let mut series = None;
    finish(&a.common, |_| {
        let range = match (&a.min, &a.max) {
            (Some(min), Some(max)) => {
                let r = Range {
                    min_milli: milli("--min", min)?,
                    max_milli: milli("--max", max)?,
                };
                if r.min_milli > r.max_milli {
                    bail!("--min {min} is above --max {max}");
                }
                Some(r)
            }
            _ => None,
        };
        let points = read_csv(&a.csv)?;
        let s = Series::from_points(&a.device, a.measure, &a.unit, range, &points).map_err(
            |e| match e {
                sensor::SensorError::Unit { .. } => anyhow!("--unit: {e}"),
                sensor::SensorError::Text { .. } => anyhow!("--device: {e}"),
                other => anyhow!("--csv {}: {other}", a.csv.display()),
            },
        )?;
        series = Some(s.clone());
        Ok(Body::Readings(Readings {
            shipment: a.shipment.clone(),
            series: vec![s],
        }))
    })?;
    if let Some(s) = series {
        summarise(&s);
    }
    Ok(())
}

/// Says on stderr what the series holds and its excursions.
fn summarise(s: &Series) {
    let unit = sensor::unit_symbol(&s.unit);
    let times: Vec<i64> = s.points().map(|(t, _)| t).collect();
    let (first, last) = (
        times.first().copied().unwrap_or_default(),
        times.last().copied().unwrap_or_default(),
    );
    eprintln!(
        "{} {} reading(s) from {} to {}",
        times.len(),
        s.measure,
        util::fmt_time(first),
        util::fmt_time(last)
    );
    if let Some(r) = s.range {
        let excursions = s.excursions();
        eprintln!(
            "{} excursion(s) outside {} to {} {unit}",
            excursions.len(),
            sensor::format_milli(r.min_milli),
            sensor::format_milli(r.max_milli)
        );
        for x in excursions {
            eprintln!(
                "  {} to {}: {} reading(s), worst {} {unit}",
                util::fmt_time(x.from_ms),
                util::fmt_time(x.to_ms),
                x.readings,
                sensor::format_milli(x.worst_milli)
            );
        }
    }
}

/// Reads `time,value` lines: times strictly increasing, values in
/// thousandths. Errors name the file and line.
fn read_csv(path: &Path) -> Result<Vec<(i64, i32)>> {
    let bytes = util::read_limited(path, MAX_CSV_BYTES, "--csv file")?;
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow!("--csv {}: the file is not UTF-8 text", path.display()))?;
    let file = path.display();
    let mut points: Vec<(i64, i32)> = Vec::new();
    let mut previous: Option<(i64, usize)> = None;
    let mut first_line = true;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let header = std::mem::replace(&mut first_line, false);
        let Some((time_text, value_text)) = line.split_once(',') else {
            bail!(
                "--csv {file} line {n}: `{line}` must be TIME,VALUE, e.g. 2026-10-03T06:00:00Z,4.5"
            );
        };
        let (time_text, value_text) = (unquote(time_text), unquote(value_text));
        let time = util::parse_time(time_text);
        let value = milli(&format!("--csv {file} line {n}: the value"), value_text);
        let (time, value) = match (time, value) {
            (Ok(t), Ok(v)) => (t, v),
            // A first line that reads as neither is a header.
            (Err(_), Err(_)) if header => continue,
            (Err(e), _) => bail!("--csv {file} line {n}: {e}"),
            (_, Err(e)) => return Err(e),
        };
        if let Some((prev, prev_line)) = previous {
            if time <= prev {
                bail!(
                    "--csv {file} line {n}: time {time_text} is not after line {prev_line}'s {}; readings must be in strictly increasing time",
                    util::fmt_time(prev)
                );
            }
        }
        if points.len() == MAX_READINGS {
            bail!(
                "--csv {file} has more than {MAX_READINGS} readings; one entry carries at most {MAX_READINGS}, so split the file and record each part"
            );
        }
        previous = Some((time, n));
        points.push((time, value));
    }
    if points.is_empty() {
        bail!("--csv {file} holds no readings; give TIME,VALUE lines");
    }
    Ok(points)
}

/// A CSV field without surrounding spaces and double quotes.
fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(f)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<(i64, i32)>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        std::fs::write(&p, text).unwrap();
        read_csv(&p)
    }

    #[test]
    fn csv_with_header_comments_and_both_time_forms() {
        let pts = csv(
            "time,value\n# logger 7731\n2026-10-03T06:00:00Z,4.5\n\n1791014400000,\"-18.25\"\n",
        )
        .unwrap();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].1, 4_500);
        assert_eq!(pts[1], (1_791_014_400_000, -18_250));
    }

    #[test]
    fn csv_refusals_name_the_line() {
        let e = csv("1000,1\n1000,2\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("increasing"), "{e}");
        let e = csv("1000,1\n2000,1.2345\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("decimals"), "{e}");
        let e = csv("1000,1\nsoon,1\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = csv("time,value\n").unwrap_err().to_string();
        assert!(e.contains("no readings"), "{e}");
        let e = csv("1000 1\n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
