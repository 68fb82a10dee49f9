//! Goods: `record produce`, `dispatch`, `receive` and `reject`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{anyhow, bail, Result};
use clap::Args;
use waybill_core::codes::{Decimal3, UnitCode};
use waybill_core::entry::{
    Body, DispatchV2, Input, LossCause, PlotFacts, Produce, ProduceV2, Product, Quantity,
    ReceiveV2, ReceivedLot, Reject, ShippedLot, Shortfall,
};
use waybill_core::geo::{self, Geometry, Plot, LAT_LIMIT_DEG, LON_LIMIT_DEG};
use waybill_core::gs1::{Gtin, LotId, ShipmentId};

use super::args::{
    doc_refs, quantity, split_lot, FromPlaceArgs, KdeArgs, PlaceArgs, ToPlaceArgs, TransportArgs,
};
use super::{finish, party, Common};
use crate::util;

// ---------------------------------------------------------------------------
// produce

/// `record produce`.
#[derive(Args, Debug)]
#[command(after_long_help = PRODUCE_EXAMPLE)]
pub struct ProduceArgs {
    /// The new lot: (01)GTIN(10)LOT, a GS1 Digital Link URI, or a free id,
    /// e.g. `--lot "(01)07709998000018(10)LOT1"`.
    #[arg(long)]
    lot: LotId,
    /// What it is, e.g. `--product "Green coffee, washed arabica"`.
    #[arg(long)]
    product: String,
    /// The product's GTIN (default: the lot's, if it has one), e.g.
    /// `--gtin 07709998000018`.
    #[arg(long)]
    gtin: Option<Gtin>,
    /// How much, e.g. `--quantity 600` or `--quantity 12.5` (up to three decimals).
    #[arg(long)]
    quantity: Decimal3,
    /// UN/CEFACT unit code: KGM, GRM, TNE, LTR, MLT, MTQ, MTR, MTK, EA,
    /// H87, XBG, XBX, XPX; e.g. `--unit KGM`.
    #[arg(long)]
    unit: UnitCode,
    /// When it was produced (default: --recorded-at), e.g.
    /// `--produced-at 2026-09-30`.
    #[arg(long, value_parser = util::parse_time, value_name = "TIME")]
    produced_at: Option<i64>,
    /// An input lot and the quantity of it used, in the input's unit,
    /// LOT=QTY, e.g. `--input "(01)07709998000018(10)LOT1=600"`. Repeat
    /// for each input.
    #[arg(long = "input", value_name = "LOT=QTY")]
    inputs: Vec<String>,
    /// A certificate document, FILE[:LABEL], e.g. `--certificate
    /// organic.pdf:"EU organic"` (its SHA-256 goes on the ledger, not the
    /// file). Repeat for each.
    #[arg(long = "certificate", value_name = "FILE[:LABEL]")]
    certificates: Vec<String>,
    /// Another document, FILE[:LABEL], e.g. `--document harvest-log.pdf`.
    /// Repeat for each.
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
    /// A plot the lot was grown on (EU deforestation regulation), as
    /// `key=value` parts separated by `;`: `area=HECTARES` (required),
    /// then `point=LAT,LON` for a plot of 4 ha or less or
    /// `polygon=LAT,LON LAT,LON …` for any plot (a closed ring: at least
    /// four positions, the first repeated as the last), and optionally
    /// `id=NAME` and `country=CC`. Degrees in WGS 84 with at least six
    /// decimals, latitude first. E.g. `--plot
    /// "id=P1;area=3.2;point=1.853214,-76.051378"` or `--plot
    /// "id=P2;area=12.5;polygon=1.850000,-76.050000 1.850000,-76.040000
    /// 1.860000,-76.040000 1.850000,-76.050000"`. Repeat for each plot.
    /// Needs the harvest dates.
    #[arg(long = "plot", value_name = "PLOT")]
    plot: Vec<String>,
    /// Plots from a GeoJSON file (a FeatureCollection of Point and Polygon
    /// features, [longitude, latitude] with six decimals, each with an
    /// `area_ha` property), as the EU information system takes them, e.g.
    /// `--plots farm.geojson`. Repeat for several files; may be combined
    /// with --plot.
    #[arg(long = "plots", value_name = "FILE.geojson")]
    plots: Vec<PathBuf>,
    /// The harvest, first and last day, START..END, e.g. `--harvest
    /// 2026-09-01..2026-09-30`. Required with plots.
    #[arg(long, value_name = "START..END", conflicts_with_all = ["harvest_start", "harvest_end"])]
    harvest: Option<String>,
    /// The harvest's first day, e.g. `--harvest-start 2026-09-01` (with --harvest-end).
    #[arg(long, value_parser = util::parse_time, value_name = "DATE", requires = "harvest_end")]
    harvest_start: Option<i64>,
    /// The harvest's last day, e.g. `--harvest-end 2026-09-30` (with --harvest-start).
    #[arg(long, value_parser = util::parse_time, value_name = "DATE", requires = "harvest_start")]
    harvest_end: Option<i64>,
    /// You declare no deforestation on these plots after 31 December 2020.
    /// Needs plots.
    #[arg(long)]
    deforestation_free: bool,
    /// The due-diligence statement's reference number, if filed, e.g.
    /// `--dds-ref 26CODDS0001234`. Needs plots.
    #[arg(long, value_name = "REF")]
    dds_ref: Option<String>,
    /// Where it was produced (the farm or plant).
    #[command(flatten)]
    origin: PlaceArgs,
    #[command(flatten)]
    kdes: KdeArgs,
    #[command(flatten)]
    common: Common,
}

const PRODUCE_EXAMPLE: &str = "\
Example: a harvest from two plots, with the FDA key data elements:
  RING='1.850000,-76.050000 1.850000,-76.040000 1.860000,-76.040000 1.850000,-76.050000'
  waybill record produce -g genesis.toml -k coop.pem --data-dir ledger \\
      --lot '(01)07709998000018(10)LOT1' --product 'Green coffee, washed arabica' \\
      --quantity 600 --unit KGM --country CO --place 'Finca La Esperanza, Pitalito' \\
      --lat 1.853214 --lon -76.051378 \\
      --plot 'id=P1;area=3.2;point=1.853214,-76.051378' \\
      --plot \"id=P2;area=12.5;polygon=$RING\" \\
      --harvest 2026-09-01..2026-09-30 --deforestation-free --dds-ref 26CODDS0001234 \\
      --ref-doc work_order:WO-2026-118 --tlc-source-gln 7709998000001 -o produce.json
Recorded by a producer (a harvest) or a processor (from its input lots).";

/// Records a production.
pub fn produce(a: &ProduceArgs) -> Result<()> {
    finish(&a.common, |_| {
        let inputs = a
            .inputs
            .iter()
            .map(|s| {
                let (lot, qty) = split_lot("--input", s)?;
                let qty = qty.ok_or_else(|| {
                    anyhow!("--input `{s}` must be LOT=QTY, the quantity of the input lot used, e.g. LOT1=600")
                })?;
                Ok(Input {
                    lot,
                    quantity: Decimal3::from_str(qty).map_err(|e| anyhow!("--input `{s}`: {e}"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let origin = a.origin.location()?;
        let produce = Produce {
            lot: a.lot.clone(),
            product: Product {
                gtin: a.gtin.or_else(|| a.lot.gtin()),
                id: None,
                description: a.product.clone(),
            },
            quantity: Quantity {
                value: a.quantity,
                unit: a.unit,
            },
            origin,
            produced_at_ms: a
                .produced_at
                .or(a.common.recorded_at)
                .unwrap_or_else(util::now_ms),
            certificates: doc_refs(&a.common, "--certificate", &a.certificates)?,
            documents: doc_refs(&a.common, "--document", &a.documents)?,
            inputs,
        };
        Ok(Body::ProduceV2(ProduceV2 {
            produce,
            plots: plot_facts(a)?,
            kdes: a.kdes.kdes(),
        }))
    })?;
    Ok(())
}

/// The plot facts from --plot, --plots, the harvest dates, the
/// deforestation declaration and --dds-ref; none without plots.
fn plot_facts(a: &ProduceArgs) -> Result<Option<PlotFacts>> {
    let mut plots = Vec::new();
    for (i, spec) in a.plot.iter().enumerate() {
        plots.push(parse_plot(i + 1, spec)?);
    }
    for file in &a.plots {
        let bytes = util::read_limited(file, 16 * 1024 * 1024, "GeoJSON file")?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow!("--plots {}: the file is not UTF-8 text", file.display()))?;
        let read = geo::plots_from_geojson(&text)
            .map_err(|e| anyhow!("--plots {}: {e}", file.display()))?;
        if read.is_empty() {
            bail!("--plots {}: the file holds no plots", file.display());
        }
        plots.extend(read);
    }
    let harvest = match (&a.harvest, a.harvest_start, a.harvest_end) {
        (Some(range), _, _) => Some(parse_harvest(range)?),
        (None, Some(start), Some(end)) => Some((start, end)),
        _ => None,
    };
    if plots.is_empty() {
        let stray = [
            (harvest.is_some(), "--harvest"),
            (a.deforestation_free, "--deforestation-free"),
            (a.dds_ref.is_some(), "--dds-ref"),
        ];
        if let Some((_, flag)) = stray.iter().find(|(given, _)| *given) {
            bail!("{flag} describes the lot's plots; give the plots too, with --plot or --plots");
        }
        return Ok(None);
    }
    let (start, end) = harvest.ok_or_else(|| {
        anyhow!("plots need the harvest dates: give --harvest START..END (e.g. 2026-09-01..2026-09-30), or --harvest-start and --harvest-end")
    })?;
    if start > end {
        bail!(
            "the harvest's first day {} is after its last day {}",
            util::fmt_time(start),
            util::fmt_time(end)
        );
    }
    Ok(Some(PlotFacts {
        plots,
        harvest_start_ms: start,
        harvest_end_ms: end,
        deforestation_free: a.deforestation_free,
        due_diligence_ref: a.dds_ref.clone(),
    }))
}

/// `START..END` for --harvest.
fn parse_harvest(range: &str) -> Result<(i64, i64)> {
    let (start, end) = range.split_once("..").ok_or_else(|| {
        anyhow!("--harvest `{range}` must be START..END, e.g. 2026-09-01..2026-09-30")
    })?;
    let time =
        |t: &str| util::parse_time(t.trim()).map_err(|e| anyhow!("--harvest `{range}`: {e}"));
    Ok((time(start)?, time(end)?))
}

/// One --plot: `area=HA;point=LAT,LON` or `area=HA;polygon=LAT,LON …`,
/// with optional `id=` and `country=`; `n` counts the --plot flags from 1.
fn parse_plot(n: usize, spec: &str) -> Result<Plot> {
    let field = format!("--plot #{n}");
    let bad = |why: String| anyhow!("{field} `{spec}`: {why}");
    let (mut id, mut area, mut country, mut geometry) = (None, None, None, None);
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            bad(format!(
                "`{part}` must be KEY=VALUE (keys: id, area, country, point, polygon)"
            ))
        })?;
        let value = value.trim();
        let twice = || bad(format!("`{}` is given twice", key.trim()));
        match key.trim() {
            "id" => {
                if id.replace(value.to_owned()).is_some() {
                    return Err(twice());
                }
            }
            "area" | "area_ha" => {
                let ha = Decimal3::from_str(value).map_err(|e| bad(format!("area: {e}")))?;
                if area.replace(ha).is_some() {
                    return Err(twice());
                }
            }
            "country" => {
                let c = value.parse().map_err(|e| bad(format!("country: {e}")))?;
                if country.replace(c).is_some() {
                    return Err(twice());
                }
            }
            "point" => {
                let p = position(&format!("{field} point"), value)?;
                if geometry.replace(Geometry::Point(p)).is_some() {
                    return Err(bad("give one point or one polygon".into()));
                }
            }
            "polygon" => {
                let ring = value
                    .split_whitespace()
                    .enumerate()
                    .map(|(i, pos)| position(&format!("{field} polygon position {}", i + 1), pos))
                    .collect::<Result<Vec<_>>>()?;
                if geometry.replace(Geometry::Polygon(ring)).is_some() {
                    return Err(bad("give one point or one polygon".into()));
                }
            }
            other => {
                return Err(bad(format!(
                    "unknown key `{other}`; the keys are id, area, country, point and polygon"
                )))
            }
        }
    }
    let area_ha = area.ok_or_else(|| {
        bad("the plot's area is missing; add `area=HECTARES`, e.g. area=3.2".into())
    })?;
    let geometry = geometry.ok_or_else(|| {
        bad("the plot has no place; add `point=LAT,LON` (4 ha or less) or `polygon=LAT,LON LAT,LON …`".into())
    })?;
    let plot = Plot {
        id,
        geometry,
        area_ha,
        country,
    };
    geo::check_plot(&field, &plot)?;
    Ok(plot)
}

/// A `LAT,LON` position in a --plot, six decimals or more each.
fn position(field: &str, text: &str) -> Result<waybill_core::entry::GeoPoint> {
    let (lat, lon) = text.split_once(',').ok_or_else(|| {
        anyhow!("{field}: `{text}` must be LATITUDE,LONGITUDE, e.g. 1.853214,-76.051378")
    })?;
    Ok(waybill_core::entry::GeoPoint {
        lat_micro: geo::parse_degrees(&format!("{field} latitude"), lat.trim(), LAT_LIMIT_DEG)?,
        lon_micro: geo::parse_degrees(&format!("{field} longitude"), lon.trim(), LON_LIMIT_DEG)?,
    })
}

// ---------------------------------------------------------------------------
// dispatch

/// `record dispatch`.
#[derive(Args, Debug)]
#[command(after_long_help = DISPATCH_EXAMPLE)]
pub struct DispatchArgs {
    /// Shipment id: (00)SSCC or a free id, e.g. `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: ShipmentId,
    /// A lot in the shipment. `--lot LOT` ships all of it you hold;
    /// `--lot LOT=QTY:UNIT` ships part, e.g. `--lot
    /// "(01)07709998000018(10)LOT1=400:KGM"` or `=0.4:TNE` (units convert
    /// only kg/g/t and l/ml); `--lot LOT=QTY` takes the unit from --unit.
    /// The rest stays with you. (`LOT=all` ships all of a lot whose id
    /// holds a `=`.) Repeat for each lot.
    #[arg(long = "lot", required = true, value_name = "LOT[=QTY[:UNIT]]")]
    lots: Vec<String>,
    /// The unit of every --lot quantity written without one, e.g. `--unit KGM`.
    #[arg(long, value_name = "UNIT")]
    unit: Option<UnitCode>,
    /// Who receives it: a member's name in genesis or its public key, e.g.
    /// `--consignee "Hanseatic Coffee Roasters GmbH"`.
    #[arg(long)]
    consignee: String,
    /// Who carries the first leg: a member with the carrier role (name or
    /// key), e.g. `--carrier "Atlantic Ocean Lines"`. It takes the
    /// shipment over with `record receive`.
    #[arg(long)]
    carrier: Option<String>,
    /// A document (bill of lading, packing list, …), FILE[:LABEL], e.g.
    /// `--document bl.pdf:"bill of lading"`. Repeat for each.
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
    #[command(flatten)]
    from: FromPlaceArgs,
    #[command(flatten)]
    to: ToPlaceArgs,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    kdes: KdeArgs,
    #[command(flatten)]
    common: Common,
}

const DISPATCH_EXAMPLE: &str = "\
Example: 400 kg of a 600 kg lot by sea, in one sealed container:
  waybill record dispatch -g genesis.toml -k coop.pem --data-dir ledger \\
      --shipment '(00)077099980000000018' --lot '(01)07709998000018(10)LOT1=400:KGM' \\
      --consignee 'Hanseatic Coffee Roasters GmbH' --carrier 'Atlantic Ocean Lines' \\
      --from-country CO --from-place 'Port of Buenaventura' \\
      --from-lat 3.882810 --from-lon -77.031917 \\
      --to-country DE --to-gln 4061234000002 \\
      --bill-of-lading MAEU240561873 --container CSQU3054383 --seal ML-CO4471920 \\
      --vessel-imo 9074729 --vessel-name 'Atlantic Star' --voyage 614E \\
      --departed-at 2026-10-02T18:00:00Z --ref-doc bill_of_lading:MAEU240561873 -o dispatch.json
Recorded by the member holding the lots.";

/// Records a dispatch.
pub fn dispatch(a: &DispatchArgs) -> Result<()> {
    finish(&a.common, |g| {
        let mut seen = BTreeSet::new();
        let mut unit_used = false;
        let mut lots = Vec::with_capacity(a.lots.len());
        for spec in &a.lots {
            let (lot, rest) = split_lot("--lot", spec)?;
            let quantity = match rest {
                None | Some("all") => None,
                Some(text) => {
                    unit_used |= !text.contains(':');
                    Some(quantity("--lot", spec, text, a.unit)?)
                }
            };
            if !seen.insert(lot.clone()) {
                bail!("--lot {lot} is given twice; give each lot once, with the quantity shipped");
            }
            lots.push(ShippedLot { lot, quantity });
        }
        unused_unit(a.unit, unit_used, "--lot")?;
        Ok(Body::DispatchV2(DispatchV2 {
            shipment: a.shipment.clone(),
            lots,
            consignee: party(&a.common, g, "--consignee", &a.consignee)?,
            carrier: a
                .carrier
                .as_deref()
                .map(|c| party(&a.common, g, "--carrier", c))
                .transpose()?,
            from: a.from.location()?,
            to: a.to.location()?,
            documents: doc_refs(&a.common, "--document", &a.documents)?,
            transport: a.transport.transport()?,
            kdes: a.kdes.kdes(),
        }))
    })?;
    Ok(())
}

/// Refuses a --unit that no quantity uses: it was meant for something.
fn unused_unit(unit: Option<UnitCode>, used: bool, flags: &str) -> Result<()> {
    match unit {
        Some(u) if !used => bail!(
            "--unit {u} is given but no {flags} quantity is written without its unit; leave --unit out"
        ),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// receive

/// `record receive`.
#[derive(Args, Debug)]
#[command(after_long_help = RECEIVE_EXAMPLE)]
pub struct ReceiveArgs {
    /// The shipment, e.g. `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: ShipmentId,
    /// How much arrived of a lot that did not arrive whole, LOT=QTY[:UNIT],
    /// e.g. `--received "(01)07709998000018(10)LOT1=390:KGM"`. Every lot
    /// not listed is received whole. What arrived and what is short
    /// (--short) must add up to what was shipped. Repeat for each lot.
    #[arg(long = "received", value_name = "LOT=QTY[:UNIT]")]
    received: Vec<String>,
    /// What did not arrive of a lot listed with --received, and why,
    /// LOT=QTY[:UNIT]:CAUSE[:NOTE], CAUSE one of shortage, damage,
    /// spoilage, theft, other; e.g. `--short
    /// "(01)07709998000018(10)LOT1=10:KGM:damage:two bags soaked"`. A
    /// quantity without a unit is in the lot's --received unit. At most one
    /// per lot.
    #[arg(long = "short", value_name = "LOT=QTY[:UNIT]:CAUSE[:NOTE]")]
    short: Vec<String>,
    /// The unit of every --received quantity written without one, e.g. `--unit KGM`.
    #[arg(long, value_name = "UNIT")]
    unit: Option<UnitCode>,
    /// A receipt document, FILE[:LABEL], e.g. `--document pod.pdf:"proof of
    /// delivery"`. Repeat for each.
    #[arg(long = "document", value_name = "FILE[:LABEL]")]
    documents: Vec<String>,
    /// Where it was received.
    #[command(flatten)]
    at: PlaceArgs,
    #[command(flatten)]
    transport: TransportArgs,
    #[command(flatten)]
    kdes: KdeArgs,
    #[command(flatten)]
    common: Common,
}

const RECEIVE_EXAMPLE: &str = "\
Example: 400 kg were shipped; 390 kg arrived, 10 kg were damaged:
  waybill record receive -g genesis.toml -k roaster.pem --data-dir ledger \\
      --shipment '(00)077099980000000018' --country DE --place 'Hamburg roastery' \\
      --received '(01)07709998000018(10)LOT1=390:KGM' \\
      --short '(01)07709998000018(10)LOT1=10:KGM:damage:two bags soaked' \\
      --arrived-at 2026-10-24T06:30:00Z -o receive.json
Recorded by the consignee, or by the first carrier taking the shipment over.";

/// Records a receipt.
pub fn receive(a: &ReceiveArgs) -> Result<()> {
    finish(&a.common, |_| {
        let mut lots: Vec<ReceivedLot> = Vec::with_capacity(a.received.len());
        let mut unit_used = false;
        for spec in &a.received {
            let (lot, rest) = split_lot("--received", spec)?;
            let text = rest.ok_or_else(|| {
                anyhow!("--received `{spec}` must be LOT=QTY[:UNIT], how much of the lot arrived, e.g. LOT1=390:KGM")
            })?;
            unit_used |= !text.contains(':');
            let received = quantity("--received", spec, text, a.unit)?;
            if lots.iter().any(|l| l.lot == lot) {
                bail!("--received {lot} is given twice; give each lot once");
            }
            lots.push(ReceivedLot {
                lot,
                received,
                shortfall: None,
            });
        }
        unused_unit(a.unit, unit_used, "--received")?;
        for spec in &a.short {
            let (lot, value, unit, cause, note) = parse_short(spec)?;
            let Some(l) = lots.iter_mut().find(|l| l.lot == lot) else {
                bail!(
                    "--short `{spec}`: lot {lot} has no --received line; say how much of it arrived with --received {lot}=QTY:UNIT (0 if none did)"
                );
            };
            if l.shortfall.is_some() {
                bail!(
                    "--short {lot} is given twice; give one shortfall per lot, with its main cause"
                );
            }
            l.shortfall = Some(Shortfall {
                quantity: Quantity {
                    value,
                    unit: unit.unwrap_or(l.received.unit),
                },
                cause,
                note,
            });
        }
        Ok(Body::ReceiveV2(ReceiveV2 {
            shipment: a.shipment.clone(),
            at: a.at.location()?,
            documents: doc_refs(&a.common, "--document", &a.documents)?,
            lots,
            transport: a.transport.transport()?,
            kdes: a.kdes.kdes(),
        }))
    })?;
    Ok(())
}

/// A shortfall as --short gives it.
type Short = (LotId, Decimal3, Option<UnitCode>, LossCause, Option<String>);

/// Reads `LOT=QTY[:UNIT]:CAUSE[:NOTE]`. A lot id may hold `=` and `:`,
/// and a note anything, so each `=` is tried from the left as the lot's
/// end until the rest reads as a shortfall.
fn parse_short(spec: &str) -> Result<Short> {
    let causes = || LossCause::ALL.map(LossCause::as_str).join(", ");
    let shape = || {
        format!(
            "--short `{spec}` must be LOT=QTY[:UNIT]:CAUSE[:NOTE], CAUSE one of {}, e.g. LOT1=10:KGM:damage:two bags soaked",
            causes()
        )
    };
    let mut first_error = None;
    for (at, _) in spec.match_indices('=') {
        let (lot, rest) = (
            spec.get(..at).unwrap_or_default(),
            spec.get(at + 1..).unwrap_or_default(),
        );
        match short_rest(rest) {
            Ok((value, unit, cause, note)) => {
                let lot = LotId::from_str(lot).map_err(|e| anyhow!("--short `{spec}`: {e}"))?;
                return Ok((lot, value, unit, cause, note));
            }
            Err(why) => {
                first_error.get_or_insert(why);
            }
        }
    }
    match first_error {
        Some(why) => bail!("--short `{spec}`: {why}; {}", shape()),
        None => bail!("{}", shape()),
    }
}

/// `QTY[:UNIT]:CAUSE[:NOTE]`, or why not.
fn short_rest(
    rest: &str,
) -> Result<(Decimal3, Option<UnitCode>, LossCause, Option<String>), String> {
    let mut parts = rest.splitn(2, ':');
    let qty = parts.next().unwrap_or_default();
    let value = Decimal3::from_str(qty.trim()).map_err(|e| e.to_string())?;
    let after = parts
        .next()
        .ok_or_else(|| format!("the cause is missing after `{qty}`"))?;
    let cause_of = |t: &str| {
        LossCause::ALL
            .into_iter()
            .find(|c| c.as_str() == t.trim().to_ascii_lowercase())
    };
    let (first, tail) = match after.split_once(':') {
        Some((f, t)) => (f, Some(t)),
        None => (after, None),
    };
    let (unit, cause, note) = if let Some(cause) = cause_of(first) {
        (None, cause, tail)
    } else {
        let unit = UnitCode::from_str(first.trim())
            .map_err(|_| format!("`{first}` is neither a cause nor a unit code"))?;
        let tail = tail.ok_or_else(|| format!("the cause is missing after the unit {unit}"))?;
        let (c, note) = match tail.split_once(':') {
            Some((c, n)) => (c, Some(n)),
            None => (tail, None),
        };
        let cause = cause_of(c).ok_or_else(|| format!("`{c}` is not a cause"))?;
        (Some(unit), cause, note)
    };
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    Ok((value, unit, cause, note))
}

// ---------------------------------------------------------------------------
// reject

/// `record reject`.
#[derive(Args, Debug)]
pub struct RejectArgs {
    /// The shipment, e.g. `--shipment "(00)077099980000000018"`.
    #[arg(long)]
    shipment: ShipmentId,
    /// Why, for people, e.g. `--reason "container seal broken on arrival"`.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    common: Common,
}

/// Records a rejection.
pub fn reject(a: &RejectArgs) -> Result<()> {
    finish(&a.common, |_| {
        Ok(Body::Reject(Reject {
            shipment: a.shipment.clone(),
            reason: a.reason.clone(),
        }))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfalls_read_with_or_without_unit_and_note() {
        let (lot, v, u, c, n) =
            parse_short("(01)07709998000018(10)LOT1=10:KGM:damage:wet: two bags").unwrap();
        assert_eq!(lot.to_string(), "(01)07709998000018(10)LOT1");
        assert_eq!(
            (v.milli(), u, c),
            (10_000, Some(UnitCode::Kgm), LossCause::Damage)
        );
        assert_eq!(n.as_deref(), Some("wet: two bags"));
        let (_, v, u, c, n) = parse_short("L=2.5:theft").unwrap();
        assert_eq!((v.milli(), u, c, n), (2_500, None, LossCause::Theft, None));
        // A lot id with `=` in it.
        let (lot, ..) = parse_short("A=B=1:shortage").unwrap();
        assert_eq!(lot.to_string(), "A=B");
        for bad in [
            "L",
            "L=10",
            "L=10:KGM",
            "L=10:lost",
            "L=x:damage",
            "L=10:KGM:lost",
        ] {
            let e = parse_short(bad).unwrap_err().to_string();
            assert!(e.starts_with("--short `"), "{bad}: {e}");
        }
    }

    #[test]
    fn plots_read_from_their_text() {
        let p = parse_plot(1, "id=P1;area=3.2;point=1.853214,-76.051378").unwrap();
        assert_eq!(p.id.as_deref(), Some("P1"));
        assert!(
            matches!(p.geometry, Geometry::Point(g) if g.lat_micro == 1_853_214 && g.lon_micro == -76_051_378)
        );
        let p = parse_plot(
            2,
            "area=12.5; polygon=1.850000,-76.050000 1.850000,-76.040000 1.860000,-76.040000 1.850000,-76.050000",
        )
        .unwrap();
        assert!(matches!(&p.geometry, Geometry::Polygon(r) if r.len() == 4));
        let e = parse_plot(1, "area=3;point=1.85321,-76.051378")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--plot #1 point latitude") && e.contains("decimals"),
            "{e}"
        );
        let e = parse_plot(3, "area=12.5;point=1.853214,-76.051378")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--plot #3") && e.contains("polygon"), "{e}");
        assert!(parse_plot(1, "point=1.853214,-76.051378").is_err());
        assert!(parse_plot(1, "area=1").is_err());
        assert!(parse_plot(1, "area=1;size=2;point=1.853214,-76.051378").is_err());
    }

    #[test]
    fn harvest_ranges() {
        let (s, e) = parse_harvest("2026-09-01..2026-09-30").unwrap();
        assert!(s < e);
        assert!(parse_harvest("2026-09-01").is_err());
        assert!(parse_harvest("2026-09-01..soon").is_err());
    }
}
