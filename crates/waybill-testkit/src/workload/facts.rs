//! The facts the workload's newer entries carry: transport legs (bill of
//! lading, containers, seals, vessel), places with GLNs, plots with their
//! harvest, cold-chain sensor series and FDA key data elements. Each is
//! built from the numbers it is given, so the workload stays
//! deterministic per seed, and each is valid by construction (check
//! digits computed, rings closed, times increasing).

use waybill_core::codes::Decimal3;
use waybill_core::entry::{
    GeoPoint, Kdes, Location, PlotFacts, ReferenceDocument, ReferenceDocumentType,
};
use waybill_core::geo::{Geometry, Plot, MAX_POINT_PLOT_HA};
use waybill_core::sensor::{Measure, Range, Series};
use waybill_core::transport::{container_check_digit, ContainerNumber, Transport, Vessel};

use crate::consortium::T0;
use crate::error::{parse, KitError};
use crate::ids::try_with_check_digit;

type Result<T, E = KitError> = std::result::Result<T, E>;

/// An hour in ms.
pub(super) const HOUR_MS: i64 = 3_600_000;
/// A day in ms.
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;

/// Shipping lines' container owner codes (with the category `U`).
const OWNERS: [&str; 4] = ["MSCU", "MAEU", "CSQU", "HLXU"];

/// Vessels: a name and the first six digits of an IMO number.
const VESSELS: [(&str, u32); 4] = [
    ("Santos Express", 931_234),
    ("Cartagena Bridge", 947_251),
    ("Atlantic Star", 962_018),
    ("Hamburg Bay", 978_305),
];

/// Places goods leave from and arrive at: a name, a country and a GLN
/// number (the GLN's 12 digits before its check digit). The GLNs lie
/// under a prefix no member of the test or benchmark consortium owns
/// (places outside the consortium, which any entry may name; see
/// `waybill_core::rules`), so they stand in every step over any roster.
const PLACES: [(&str, &str, u64); 6] = [
    ("Port of Buenaventura", "CO", 960_000_010_001),
    ("Port of Cartagena", "CO", 960_000_010_002),
    ("Huila dry mill", "CO", 960_000_010_003),
    ("Port of Hamburg", "DE", 960_000_020_001),
    ("Port of Rotterdam", "NL", 960_000_020_002),
    ("Bremen roastery", "DE", 960_000_020_003),
];

/// Where the workload's farms lie (Huila, Colombia), in micro-degrees.
const FARMS_LAT: i32 = 2_000_000;
const FARMS_LON: i32 = -75_900_000;

/// The IMO check digit for six digits: weighted 7 down to 2, summed,
/// modulo 10.
fn imo_check_digit(six: u32) -> u32 {
    (0..6u32)
        .map(|i| (six / 10u32.pow(i)) % 10 * (i + 2))
        .sum::<u32>()
        % 10
}

/// Place number `n` (of [`PLACES`], cycled), with its GLN when `gln`.
pub(super) fn place(n: u64, gln: bool) -> Result<Location> {
    let i = (n % PLACES.len() as u64) as usize;
    let (name, country, number) = PLACES[i];
    Ok(Location {
        gln: if gln {
            Some(parse("GLN", &try_with_check_digit(&number.to_string())?)?)
        } else {
            None
        },
        country: Some(parse("country", country)?),
        name: Some(name.into()),
        geo: None,
    })
}

/// Container number `n`: an owner code and six digits, with its check
/// digit.
fn container(n: u64) -> Result<ContainerNumber> {
    let owner = OWNERS[(n % OWNERS.len() as u64) as usize];
    let body = format!("{owner}{:06}", n % 1_000_000);
    let check = container_check_digit(&body).ok_or_else(|| KitError::Invalid {
        what: "container number",
        text: body.clone(),
        why: "not four letters and six digits".into(),
    })?;
    parse("container number", &format!("{body}{check}"))
}

/// Vessel `n` (cycled) on voyage `n`.
fn vessel(n: u64) -> Result<Vessel> {
    let (name, six) = VESSELS[(n % VESSELS.len() as u64) as usize];
    Ok(Vessel {
        imo: parse("IMO number", &format!("IMO {six}{}", imo_check_digit(six)))?,
        name: Some(name.into()),
        voyage: Some(format!("{:03}E", n % 1_000)),
    })
}

/// A leg's transport facts, number `n`: a bill of lading, `containers`
/// containers with one seal each, a vessel on a sea leg, and the
/// departure time.
pub(super) fn departing(n: u64, containers: u64, sea: bool, departed_ms: i64) -> Result<Transport> {
    let boxes = (0..containers)
        .map(|k| container(n.wrapping_mul(4).wrapping_add(k)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Transport {
        bill_of_lading: Some(format!("BL{n:08}")),
        seals: boxes.iter().map(|c| format!("SL{}", c.serial())).collect(),
        containers: boxes,
        vessel: if sea { Some(vessel(n)?) } else { None },
        departed_at_ms: Some(departed_ms),
        arrived_at_ms: None,
    })
}

/// The arriving leg's facts on a receipt: its bill of lading and arrival.
pub(super) fn arriving(n: u64, arrived_ms: i64) -> Transport {
    Transport {
        bill_of_lading: Some(format!("BL{n:08}")),
        arrived_at_ms: Some(arrived_ms),
        ..Transport::default()
    }
}

/// Key data elements: a reference document of `kind` numbered `n`, and
/// the place the lot code was assigned, if any.
pub(super) fn kdes(kind: ReferenceDocumentType, n: u64, tlc_source: Option<Location>) -> Kdes {
    let prefix = match kind {
        ReferenceDocumentType::BillOfLading => "BL",
        ReferenceDocumentType::Invoice => "INV",
        ReferenceDocumentType::PurchaseOrder => "PO",
        ReferenceDocumentType::AdvanceShippingNotice => "ASN",
        ReferenceDocumentType::WorkOrder => "WO",
        ReferenceDocumentType::Other => "DOC",
    };
    Kdes {
        reference_document: Some(ReferenceDocument {
            kind,
            number: format!("{prefix}{n:08}"),
        }),
        tlc_source,
    }
}

/// The farm a lot of plot number `n` was grown on: one plot of
/// `area_milli_ha` thousandths of a hectare (a point up to 4 ha, a
/// rectangle of about that area above), harvested over the 90 days up
/// to a month before [`T0`], declared deforestation-free, with a
/// due-diligence reference when `dds`.
pub(super) fn plot_facts(n: u64, area_milli_ha: u64, dds: bool) -> Result<PlotFacts> {
    // Farms spread over about 0.1 degree in each direction.
    let corner = GeoPoint {
        lat_micro: FARMS_LAT + (n.wrapping_mul(7_919) % 100_000) as i32,
        lon_micro: FARMS_LON + (n.wrapping_mul(104_729) % 100_000) as i32,
    };
    let area_ha = Decimal3::from_milli(area_milli_ha.max(1));
    let geometry = if area_ha <= MAX_POINT_PLOT_HA {
        Geometry::Point(corner)
    } else {
        // A ha is 10,000 m², so the side is sqrt(milli-ha × 10) m; a
        // micro-degree is about 0.11 m.
        let side_m = (area_milli_ha.saturating_mul(10) as f64).sqrt();
        let side = ((side_m * 9.0) as i32).max(10);
        let (w, h) = (side + (n % 50) as i32, side);
        let at = |dlat: i32, dlon: i32| GeoPoint {
            lat_micro: corner.lat_micro + dlat,
            lon_micro: corner.lon_micro + dlon,
        };
        Geometry::Polygon(vec![at(0, 0), at(0, w), at(h, w), at(h, 0), at(0, 0)])
    };
    Ok(PlotFacts {
        plots: vec![Plot {
            id: Some(format!("plot {}", n % 10_000)),
            geometry,
            area_ha,
            country: Some(parse("country", "CO")?),
        }],
        harvest_start_ms: T0 - 120 * DAY_MS,
        harvest_end_ms: T0 - 30 * DAY_MS,
        deforestation_free: true,
        due_diligence_ref: dds.then(|| format!("DDS-CO-{n:07}")),
    })
}

/// A cold-chain temperature series from data logger `device`: `count`
/// hourly readings from `start_ms`, around 5 °C within the declared
/// 2 to 8 °C (`wobble` picks the small variations); with `excursion`
/// (first reading, how many), those readings are out of range, above
/// it.
pub(super) fn temperatures(
    device: u64,
    start_ms: i64,
    count: usize,
    wobble: u64,
    excursion: Option<(usize, usize)>,
) -> Result<Series> {
    let points: Vec<(i64, i32)> = (0..count)
        .map(|i| {
            let t = start_ms + i as i64 * HOUR_MS;
            let bits = (wobble >> (i % 32)) & 0x7;
            let mut v = 4_000 + bits as i32 * 300;
            if let Some((from, len)) = excursion {
                if (from..from + len).contains(&i) {
                    v = 9_500 + bits as i32 * 400;
                }
            }
            (t, v)
        })
        .collect();
    Series::from_points(
        &format!("TL-{device:06}"),
        Measure::Temperature,
        "CEL",
        Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        &points,
    )
    .map_err(|e| KitError::Workload(format!("internal: a sensor series: {e}")))
}

/// A relative-humidity series from the same logger, at the same times,
/// between 55% and 70%, with no declared range.
pub(super) fn humidity(device: u64, start_ms: i64, count: usize, wobble: u64) -> Result<Series> {
    let points: Vec<(i64, i32)> = (0..count)
        .map(|i| {
            let bits = (wobble >> (i % 40)) & 0xf;
            (start_ms + i as i64 * HOUR_MS, 55_000 + bits as i32 * 1_000)
        })
        .collect();
    Series::from_points(
        &format!("TL-{device:06}"),
        Measure::RelativeHumidity,
        "P1",
        None,
        &points,
    )
    .map_err(|e| KitError::Workload(format!("internal: a sensor series: {e}")))
}
