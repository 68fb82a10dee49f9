//! The facts a lot's entries carry beyond custody: plots of land (EU
//! deforestation regulation), transport (ISO 6346 containers, IMO
//! numbers) and sensor series. Published check-digit examples, every
//! refusal with the field it names, and properties over generated input.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use waybill_core::codes::{Country, Decimal3};
use waybill_core::entry::GeoPoint;
use waybill_core::geo::{
    check_plot, check_point, format_degrees, parse_degrees, plots_from_geojson, plots_to_geojson,
    plots_to_geojson_text, GeoError, Geometry, Plot, MAX_POLYGON_POSITIONS,
};
use waybill_core::sensor::{
    format_milli, Excursion, Measure, Range, Reading, SensorError, Series, MAX_READINGS,
};
use waybill_core::transport::{
    container_check_digit, ContainerNumber, ImoNumber, Transport, TransportError, Vessel,
    MAX_CONTAINERS, MAX_SEALS,
};

// ---------------------------------------------------------------------------
// Containers and ships

/// The ISO 6346 check digit, written out again here (letter values from a
/// table, not from the crate) so the crate's is checked against it.
fn iso6346_check_digit(body: &str) -> u32 {
    const LETTERS: [(char, u32); 26] = [
        ('A', 10),
        ('B', 12),
        ('C', 13),
        ('D', 14),
        ('E', 15),
        ('F', 16),
        ('G', 17),
        ('H', 18),
        ('I', 19),
        ('J', 20),
        ('K', 21),
        ('L', 23),
        ('M', 24),
        ('N', 25),
        ('O', 26),
        ('P', 27),
        ('Q', 28),
        ('R', 29),
        ('S', 30),
        ('T', 31),
        ('U', 32),
        ('V', 34),
        ('W', 35),
        ('X', 36),
        ('Y', 37),
        ('Z', 38),
    ];
    let sum: u32 = body
        .chars()
        .zip([1, 2, 4, 8, 16, 32, 64, 128, 256, 512])
        .map(|(c, weight)| {
            let value = c
                .to_digit(10)
                .unwrap_or_else(|| LETTERS.iter().find(|(l, _)| *l == c).unwrap().1);
            value * weight
        })
        .sum();
    sum % 11 % 10
}

/// Container numbers made with the algorithm above from real owner codes
/// (the published `CSQU3054383` among them). `MSCU1234530`'s weighted sum
/// leaves 10, whose check digit is 0.
const CONTAINERS: [&str; 12] = [
    "CSQU3054383",
    "MSCU1234566",
    "MAEU8412341",
    "HLXU1007531",
    "TGHU6720915",
    "CMAU5123893",
    "OOLU0000013",
    "GESU6512204",
    "TCNU9988772",
    "TRLZ9053110",
    "ABCJ0000004",
    "MSCU1234530",
];

#[test]
fn the_published_container_number_and_computed_ones_parse() {
    for text in CONTAINERS {
        let (body, digit) = text.split_at(10);
        assert_eq!(
            digit,
            iso6346_check_digit(body).to_string(),
            "{text}: the vector itself is wrong"
        );
        let c: ContainerNumber = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(c.to_string(), text);
        assert_eq!(c.as_str(), text);
        assert_eq!(
            container_check_digit(body).map(u32::from),
            Some(iso6346_check_digit(body))
        );
    }
    assert_eq!(container_check_digit("MSCU123453"), Some(0));
}

#[test]
fn container_numbers_are_read_in_their_written_forms() {
    let compact: ContainerNumber = "CSQU3054383".parse().unwrap();
    for form in [
        "CSQU 305438 3",
        "CSQU 305438-3",
        "csqu3054383",
        "CsQu 3054383",
        "CSQU305438-3",
        "C S Q U 3 0 5 4 3 8 - 3",
    ] {
        assert_eq!(form.parse::<ContainerNumber>().unwrap(), compact, "{form}");
    }
    let owner = compact.owner_code();
    assert_eq!(
        (owner, compact.category(), compact.serial()),
        ("CSQ", 'U', "305438")
    );
}

#[test]
fn a_wrong_container_check_digit_is_refused_naming_the_right_one() {
    let e = "CSQU3054384".parse::<ContainerNumber>().unwrap_err();
    assert_eq!(
        e,
        TransportError::ContainerCheckDigit {
            input: "CSQU3054384".into(),
            expected: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "container `CSQU3054384` has a wrong check digit (expected 3)"
    );
    // Named in its normalised form, whatever form it came in.
    let e = "msku 123456-0".parse::<ContainerNumber>().unwrap_err();
    let expected = iso6346_check_digit("MSKU123456");
    assert_ne!(expected, 0);
    assert_eq!(
        e.to_string(),
        format!("container `MSKU1234560` has a wrong check digit (expected {expected})")
    );
    // The sum that leaves 10 wants 0, not 1.
    let e = "MSCU1234531".parse::<ContainerNumber>().unwrap_err();
    assert!(e.to_string().contains("(expected 0)"), "{e}");
}

#[test]
fn container_shapes_are_refused_saying_what_is_wrong() {
    for (bad, says) in [
        ("CSQA3054383", "must be U, J or Z"),
        ("CSQU305438", "11 characters"),
        ("CSQU-3054383", "dash"),
        ("C5QU3054383", "four letters"),
        ("CSQU30543X3", "seven digits"),
        ("", "11 characters"),
    ] {
        let e = bad.parse::<ContainerNumber>().unwrap_err().to_string();
        assert!(e.starts_with(&format!("container `{bad}`")), "{e}");
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn container_numbers_serialize_as_their_string_and_are_checked_when_read() {
    let c: ContainerNumber = "csqu 305438-3".parse().unwrap();
    assert_eq!(serde_json::to_string(&c).unwrap(), r#""CSQU3054383""#);
    assert_eq!(
        serde_json::from_str::<ContainerNumber>(r#""CSQU 305438-3""#).unwrap(),
        c
    );
    let e = serde_json::from_str::<ContainerNumber>(r#""CSQU3054384""#).unwrap_err();
    assert!(e.to_string().contains("(expected 3)"), "{e}");
    assert!(serde_json::from_str::<ContainerNumber>("3054383").is_err());
}

#[test]
fn published_imo_numbers() {
    for (text, number) in [
        ("9074729", 9_074_729),
        ("IMO 9074729", 9_074_729),
        ("IMO9074729", 9_074_729),
        ("9176187", 9_176_187),
        ("IMO 9176187", 9_176_187),
    ] {
        let imo: ImoNumber = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(imo.number(), number);
        assert_eq!(imo.to_string(), format!("IMO {number}"));
    }
}

#[test]
fn a_wrong_imo_check_digit_is_refused_naming_the_right_one() {
    let e = "IMO 9074728".parse::<ImoNumber>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "IMO number `IMO 9074728` has a wrong check digit (expected 9)"
    );
    let e = "9176186".parse::<ImoNumber>().unwrap_err();
    assert!(
        matches!(e, TransportError::ImoCheckDigit { expected: 7, .. }),
        "{e}"
    );
    let e = "IMO 907472".parse::<ImoNumber>().unwrap_err().to_string();
    assert!(e.contains("seven digits"), "{e}");
}

#[test]
fn imo_numbers_serialize_as_imo_and_the_digits() {
    let imo: ImoNumber = "9074729".parse().unwrap();
    assert_eq!(serde_json::to_string(&imo).unwrap(), r#""IMO 9074729""#);
    for form in [r#""IMO 9074729""#, r#""9074729""#, r#""IMO9074729""#] {
        assert_eq!(serde_json::from_str::<ImoNumber>(form).unwrap(), imo);
    }
    assert!(serde_json::from_str::<ImoNumber>(r#""IMO 9074720""#).is_err());
    assert!(serde_json::from_str::<ImoNumber>("9074729").is_err());
}

/// A container number for serial `n`, made with the test's own algorithm.
fn container(n: u32) -> ContainerNumber {
    let body = format!("MSCU{n:06}");
    format!("{body}{}", iso6346_check_digit(&body))
        .parse()
        .unwrap()
}

fn transport() -> Transport {
    Transport {
        bill_of_lading: Some("MEDUBN123456".into()),
        containers: vec![container(1), container(2), container(3)],
        seals: vec!["ML-1234567".into(), "CUSTOMS 889".into()],
        vessel: Some(Vessel {
            imo: "IMO 9074729".parse().unwrap(),
            name: Some("MSC ANNA".into()),
            voyage: Some("FA422W".into()),
        }),
        departed_at_ms: Some(1_700_000_000_000),
        arrived_at_ms: Some(1_701_000_000_000),
    }
}

#[test]
fn a_transport_round_trips_through_json() {
    let t = transport();
    assert_eq!(t.check(), Ok(()));
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["vessel"]["imo"], "IMO 9074729");
    assert_eq!(json["containers"][0], container(1).as_str());
    let back: Transport = serde_json::from_value(json).unwrap();
    assert_eq!(back, t);
    assert_eq!(Transport::default().check(), Ok(()));
}

#[test]
fn transport_refusals_name_the_field() {
    fn refused(change: impl FnOnce(&mut Transport), says: &[&str]) {
        let mut t = transport();
        change(&mut t);
        let e = t.check().unwrap_err().to_string();
        for s in says {
            assert!(e.contains(s), "{e:?} does not say {s:?}");
        }
    }
    refused(
        |t| t.bill_of_lading = Some(String::new()),
        &["transport.bill_of_lading is empty"],
    );
    refused(
        |t| t.seals[1] = "S".repeat(201),
        &["transport.seals[1]", "201 characters", "at most 200"],
    );
    refused(
        |t| t.vessel.as_mut().unwrap().name = Some("MSC\tANNA".into()),
        &[
            "transport.vessel.name",
            "`MSC\\tANNA`",
            "control character U+0009",
        ],
    );
    refused(
        |t| t.vessel.as_mut().unwrap().voyage = Some(" ".into()),
        &["transport.vessel.voyage is empty"],
    );
    refused(
        |t| t.containers = (0..65).map(container).collect(),
        &["transport.containers lists 65 containers; at most 64"],
    );
    refused(
        |t| t.seals = (0..65).map(|i| format!("S{i}")).collect(),
        &["transport.seals lists 65 seals; at most 64"],
    );
    refused(
        |t| t.containers.push(container(2)),
        &[&format!(
            "transport.containers[3] `{}` is already listed as transport.containers[1]",
            container(2)
        )],
    );
    refused(
        |t| t.arrived_at_ms = Some(1_600_000_000_000),
        &["transport.arrived_at_ms 1600000000000 is before transport.departed_at_ms 1700000000000"],
    );
    // The limits themselves are fine, and so is a leg of no time.
    let mut t = transport();
    t.containers = (0..MAX_CONTAINERS as u32).map(container).collect();
    t.seals = (0..MAX_SEALS).map(|i| format!("S{i}")).collect();
    t.arrived_at_ms = t.departed_at_ms;
    t.seals[0] = "é".repeat(200);
    assert_eq!(t.check(), Ok(()));
}

proptest! {
    #[test]
    fn any_container_number_made_by_the_algorithm_parses_and_no_other_digit_does(
        owner in "[A-Z]{3}",
        category in prop::sample::select(vec!['U', 'J', 'Z']),
        serial in 0u32..1_000_000,
        lower in any::<bool>(),
    ) {
        let body = format!("{owner}{category}{serial:06}");
        let digit = iso6346_check_digit(&body);
        let compact = format!("{body}{digit}");
        let c: ContainerNumber = compact.parse().unwrap();
        prop_assert_eq!(c.as_str(), compact.as_str());
        let spaced = format!("{owner}{category} {serial:06}-{digit}");
        let spaced = if lower { spaced.to_lowercase() } else { spaced };
        prop_assert_eq!(spaced.parse::<ContainerNumber>().unwrap(), c);
        for wrong in (0..10).filter(|&d| d != digit) {
            let e = format!("{body}{wrong}").parse::<ContainerNumber>().unwrap_err();
            prop_assert_eq!(
                e.to_string(),
                format!("container `{body}{wrong}` has a wrong check digit (expected {digit})")
            );
        }
    }

    #[test]
    fn any_imo_number_made_by_the_algorithm_parses_and_no_other_digit_does(
        six in 0u32..1_000_000,
    ) {
        let digits = format!("{six:06}");
        let sum: u32 = digits
            .chars()
            .zip([7, 6, 5, 4, 3, 2])
            .map(|(c, w)| c.to_digit(10).unwrap() * w)
            .sum();
        let check = sum % 10;
        let imo: ImoNumber = format!("IMO {digits}{check}").parse().unwrap();
        prop_assert_eq!(imo.to_string(), format!("IMO {digits}{check}"));
        prop_assert_eq!(format!("{digits}{check}").parse::<ImoNumber>().unwrap(), imo);
        for wrong in (0..10).filter(|&d| d != check) {
            let refused = format!("{digits}{wrong}").parse::<ImoNumber>();
            prop_assert!(
                matches!(refused, Err(TransportError::ImoCheckDigit { expected, .. }) if u32::from(expected) == check),
                "{}{}", digits, wrong
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Plots

/// A point near Armenia, Quindío (Colombia), `north` and `east`
/// micro-degrees away (one is about 11 cm).
fn p(north: i32, east: i32) -> GeoPoint {
    GeoPoint {
        lat_micro: 4_533_889 + north,
        lon_micro: -75_681_111 + east,
    }
}

fn ha(text: &str) -> Decimal3 {
    text.parse().unwrap()
}

fn point_plot(area: &str) -> Plot {
    Plot {
        id: Some("Finca La Esperanza".into()),
        geometry: Geometry::Point(p(0, 0)),
        area_ha: ha(area),
        country: Some("CO".parse().unwrap()),
    }
}

fn polygon_plot(ring: Vec<GeoPoint>) -> Plot {
    Plot {
        id: Some("lote 7".into()),
        geometry: Geometry::Polygon(ring),
        area_ha: ha("12.5"),
        country: Some("CO".parse().unwrap()),
    }
}

/// A square of about 330 m a side, counter-clockwise.
fn square() -> Vec<GeoPoint> {
    vec![p(0, 0), p(0, 3_000), p(3_000, 3_000), p(3_000, 0), p(0, 0)]
}

#[test]
fn degrees_need_six_decimals_and_round_beyond() {
    assert_eq!(parse_degrees("lat", "4.609712", 90), Ok(4_609_712));
    assert_eq!(parse_degrees("lon", "-75.123456789", 180), Ok(-75_123_457));
    assert_eq!(parse_degrees("lon", "-75.1234564", 180), Ok(-75_123_456));
    assert_eq!(parse_degrees("lon", "-180.000000", 180), Ok(-180_000_000));
    assert_eq!(parse_degrees("lat", "0.0000005", 90), Ok(1));
    assert_eq!(parse_degrees("lat", "-0.0000005", 90), Ok(-1));
    assert_eq!(format_degrees(-75_000_001), "-75.000001");
    assert_eq!(format_degrees(4_600_000), "4.600000");

    let e = parse_degrees("plots[0].lat", "4.60971", 90).unwrap_err();
    assert_eq!(
        e,
        GeoError::TooFewDecimals {
            field: "plots[0].lat".into(),
            input: "4.60971".into(),
            decimals: 5
        }
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("plots[0].lat: `4.60971` has 5 decimals"),
        "{msg}"
    );
    assert!(msg.contains("at least six are needed"), "{msg}");

    let e = parse_degrees("lat", "90.000001", 90)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "lat: 90.000001 degrees is outside the range -90 to 90");
    let e = parse_degrees("lon", "-180.0000005", 180).unwrap_err();
    assert!(matches!(e, GeoError::OutOfRange { limit: 180, .. }), "{e}");
    let e = parse_degrees("lon", "4,609712", 180).unwrap_err();
    assert!(matches!(e, GeoError::DegreesSyntax { .. }), "{e}");
}

#[test]
fn points_out_of_range_are_refused_naming_the_coordinate() {
    assert_eq!(check_point("geo", &p(0, 0)), Ok(()));
    let corner = GeoPoint {
        lat_micro: -90_000_000,
        lon_micro: 180_000_000,
    };
    assert_eq!(check_point("geo", &corner), Ok(()));
    let e = check_point(
        "origin.geo",
        &GeoPoint {
            lat_micro: 90_000_001,
            lon_micro: 0,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "origin.geo.lat_micro: 90.000001 degrees is outside the range -90 to 90"
    );
    let e = check_point(
        "origin.geo",
        &GeoPoint {
            lat_micro: 0,
            lon_micro: -180_000_001,
        },
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("origin.geo.lon_micro: -180.000001"),
        "{e}"
    );
}

#[test]
fn good_plots_pass() {
    assert_eq!(check_plot("plots[0]", &point_plot("3.5")), Ok(()));
    assert_eq!(check_plot("plots[0]", &point_plot("4")), Ok(()));
    assert_eq!(check_plot("plots[1]", &polygon_plot(square())), Ok(()));
    // Clockwise, a triangle, and a concave L whose inner corner comes
    // close to other edges without touching them.
    let mut clockwise = square();
    clockwise.reverse();
    assert_eq!(check_plot("plots[1]", &polygon_plot(clockwise)), Ok(()));
    let triangle = vec![p(0, 0), p(0, 3_000), p(2_000, 1_000), p(0, 0)];
    assert_eq!(check_plot("plots[1]", &polygon_plot(triangle)), Ok(()));
    let l_shape = vec![
        p(0, 0),
        p(0, 3_000),
        p(1_000, 3_000),
        p(1_000, 1),
        p(3_000, 1),
        p(3_000, 0),
        p(0, 0),
    ];
    assert_eq!(check_plot("plots[1]", &polygon_plot(l_shape)), Ok(()));
    // Three corners on a line among others are fine.
    let with_straight_corner = vec![
        p(0, 0),
        p(0, 1_500),
        p(0, 3_000),
        p(3_000, 3_000),
        p(3_000, 0),
        p(0, 0),
    ];
    assert_eq!(
        check_plot("plots[1]", &polygon_plot(with_straight_corner)),
        Ok(())
    );
    let mut big = point_plot("1");
    big.id = None;
    big.country = None;
    assert_eq!(check_plot("plots[0]", &big), Ok(()));
}

/// The message `plot`'s check gives as `plots[1]`.
fn plot_error(plot: &Plot) -> String {
    check_plot("plots[1]", plot).unwrap_err().to_string()
}

#[test]
fn a_point_plot_over_4_ha_is_refused() {
    assert_eq!(
        plot_error(&point_plot("4.5")),
        "plots[1].geometry: the plot declares 4.5 ha; a plot over 4 ha must be given as a polygon"
    );
    assert!(plot_error(&point_plot("4.001")).contains("over 4 ha"));
}

#[test]
fn a_plot_without_area_is_refused() {
    assert_eq!(
        plot_error(&point_plot("0")),
        "plots[1].area_ha: the area is 0 ha; declare the plot's area in hectares"
    );
}

#[test]
fn an_open_polygon_is_refused() {
    let mut ring = square();
    ring.pop();
    ring.push(p(1, 0));
    let e = plot_error(&polygon_plot(ring));
    assert!(
        e.starts_with("plots[1].geometry: the polygon is not closed"),
        "{e}"
    );
    assert!(e.contains("latitude 4.533890, longitude -75.681111"), "{e}");
    assert!(e.contains("repeat the first position at the end"), "{e}");
}

#[test]
fn a_self_crossing_bow_tie_is_refused_naming_the_edges() {
    let bow_tie = vec![p(0, 0), p(3_000, 3_000), p(0, 3_000), p(3_000, 0), p(0, 0)];
    assert_eq!(
        check_plot("plots[1]", &polygon_plot(bow_tie)),
        Err(GeoError::SelfCrossing {
            field: "plots[1].geometry".into(),
            first: 0,
            second: 2
        })
    );
    // A square with a tail that crosses it twice: the first pair found
    // is named.
    let crossing_later = vec![
        p(0, 0),
        p(0, 3_000),
        p(3_000, 3_000),
        p(3_000, 2_000),
        p(1_000, 4_000),
        p(-1_000, 1_500),
        p(0, 0),
    ];
    assert_eq!(
        plot_error(&polygon_plot(crossing_later)),
        "plots[1].geometry: the polygon crosses itself (edge 0 meets edge 4)"
    );
}

#[test]
fn a_polygon_that_touches_or_folds_onto_itself_is_refused() {
    // Two squares meeting at one corner (a figure eight through p(3000, 3000)).
    let figure_eight = vec![
        p(0, 0),
        p(0, 3_000),
        p(3_000, 3_000),
        p(6_000, 3_000),
        p(6_000, 6_000),
        p(3_000, 6_000),
        p(3_000, 3_000),
        p(3_000, 0),
        p(0, 0),
    ];
    let e = plot_error(&polygon_plot(figure_eight));
    assert!(
        e.contains("the polygon crosses itself (edge 1 meets edge 5)"),
        "{e}"
    );
    // A corner on another edge.
    let pinched = vec![
        p(0, 0),
        p(0, 3_000),
        p(3_000, 3_000),
        p(0, 1_500),
        p(3_000, 0),
        p(0, 0),
    ];
    let e = plot_error(&polygon_plot(pinched));
    assert!(e.contains("crosses itself"), "{e}");
    // A spike that goes out and comes back along itself.
    let spike = vec![
        p(0, 0),
        p(0, 3_000),
        p(0, 5_000),
        p(0, 4_000),
        p(3_000, 3_000),
        p(3_000, 0),
        p(0, 0),
    ];
    let e = plot_error(&polygon_plot(spike));
    assert!(
        e.contains("the polygon crosses itself (edge 1 meets edge 2)"),
        "{e}"
    );
    // Folding back over the closing corner.
    let closing_fold = vec![p(0, 0), p(0, 2_000), p(3_000, 1_000), p(0, 1_000), p(0, 0)];
    let e = plot_error(&polygon_plot(closing_fold));
    assert!(
        e.contains("the polygon crosses itself (edge 0 meets edge 2)"),
        "{e}"
    );
}

#[test]
fn a_corner_on_another_edge_is_found_whichever_end_of_which_edge_it_is() {
    // p(0, 1500) lies on the edge along north 0 between east 0 and 3000;
    // the pair named is the first in order (lower edge first).
    for (ring, first, second) in [
        // The end of a later edge.
        (
            vec![
                p(0, 0),
                p(0, 3_000),
                p(3_000, 3_000),
                p(0, 1_500),
                p(3_000, 0),
                p(0, 0),
            ],
            0,
            2,
        ),
        // The end of an earlier edge.
        (
            vec![
                p(0, 0),
                p(3_000, 0),
                p(0, 1_500),
                p(3_000, 3_000),
                p(0, 3_000),
                p(0, 0),
            ],
            1,
            4,
        ),
        // The start of the first edge.
        (
            vec![
                p(0, 1_500),
                p(3_000, 3_000),
                p(0, 3_000),
                p(0, 0),
                p(3_000, 0),
                p(0, 1_500),
            ],
            0,
            2,
        ),
    ] {
        assert_eq!(
            check_plot("plots[1]", &polygon_plot(ring.clone())),
            Err(GeoError::SelfCrossing {
                field: "plots[1].geometry".into(),
                first,
                second
            }),
            "{ring:?}"
        );
    }
}

#[test]
fn a_collinear_polygon_is_refused() {
    let line = vec![p(0, 0), p(1_000, 1_000), p(3_000, 3_000), p(0, 0)];
    assert_eq!(
        plot_error(&polygon_plot(line)),
        "plots[1].geometry: all the polygon's corners lie on one line, so it encloses no area"
    );
}

#[test]
fn polygon_shape_refusals() {
    let e = plot_error(&polygon_plot(vec![p(0, 0), p(0, 3_000), p(0, 0)]));
    assert!(
        e.starts_with("plots[1].geometry: the polygon has 3 positions"),
        "{e}"
    );
    let e = plot_error(&polygon_plot(vec![
        p(0, 0),
        p(0, 3_000),
        p(0, 3_000),
        p(3_000, 0),
        p(0, 0),
    ]));
    assert!(
        e.starts_with("plots[1].geometry: positions 1 and 2 are the same"),
        "{e}"
    );
    let mut many: Vec<GeoPoint> = (0..MAX_POLYGON_POSITIONS as i32)
        .map(|i| p(i % 2, i))
        .collect();
    many.push(p(0, 0));
    let e = plot_error(&polygon_plot(many));
    assert!(e.contains("has 2001 positions; at most 2000"), "{e}");
    let mut out_of_range = square();
    out_of_range[2].lat_micro = 91_000_000;
    assert_eq!(
        plot_error(&polygon_plot(out_of_range)),
        "plots[1].geometry.polygon[2].lat_micro: 91.000000 degrees is outside the range -90 to 90"
    );
    let mut far = point_plot("1");
    far.geometry = Geometry::Point(GeoPoint {
        lat_micro: 0,
        lon_micro: 180_000_001,
    });
    assert!(plot_error(&far).starts_with("plots[1].geometry.point.lon_micro: 180.000001"));
}

#[test]
fn a_polygon_of_the_most_positions_is_checked_in_time() {
    // A comb-free zigzag ring with 2000 positions: no crossing, so every
    // pair of edges is looked at.
    let n = MAX_POLYGON_POSITIONS as i32 - 1;
    let half = n / 2;
    let mut ring: Vec<GeoPoint> = (0..half).map(|i| p(i % 2 * 10, i * 100)).collect();
    ring.extend((0..n - half).map(|i| p(5_000 + i % 2 * 10, (n - half - 1 - i) * 100)));
    ring.push(ring[0]);
    assert_eq!(ring.len(), MAX_POLYGON_POSITIONS);
    assert_eq!(check_plot("plots[0]", &polygon_plot(ring)), Ok(()));
}

#[test]
fn a_plot_id_is_a_short_clean_text() {
    let mut plot = point_plot("1");
    plot.id = Some("lote\n7".into());
    let e = plot_error(&plot);
    assert!(
        e.starts_with("plots[1].id `lote\\n7` contains the control character U+000A"),
        "{e}"
    );
    plot.id = Some("x".repeat(201));
    assert!(plot_error(&plot).contains("201 characters"));
    plot.id = Some(String::new());
    assert!(plot_error(&plot).starts_with("plots[1].id is empty"));
}

const GEOJSON: &str = r#"{
  "type": "FeatureCollection",
  "features": [
    {
      "type": "Feature",
      "properties": {"ProducerName": "Cooperativa del Quindío", "name": "Finca \"La Esperanza\"", "Area": 2.5, "country": "CO"},
      "geometry": {"type": "Point", "coordinates": [-75.681111, 4.533889]}
    },
    {
      "type": "Feature",
      "id": "ignored",
      "properties": {"id": "lote-7", "area_ha": 12.5},
      "geometry": {
        "type": "Polygon",
        "coordinates": [[
          [-75.681111, 4.533889], [-75.678111, 4.533889], [-75.678111, 4.5368891],
          [-75.681111, 4.536889], [-75.681111, 4.533889]
        ]]
      }
    }
  ]
}"#;

#[test]
fn plots_are_read_from_geojson() {
    let plots = plots_from_geojson(GEOJSON).unwrap();
    assert_eq!(
        plots,
        vec![
            Plot {
                id: Some("Finca \"La Esperanza\"".into()),
                geometry: Geometry::Point(p(0, 0)),
                area_ha: ha("2.5"),
                country: Some("CO".parse().unwrap()),
            },
            Plot {
                id: Some("lote-7".into()),
                geometry: Geometry::Polygon(square()),
                area_ha: ha("12.5"),
                country: None,
            },
        ]
    );
    let single = r#"{"type":"Feature","properties":{"area_ha":"0.75","id":17},
        "geometry":{"type":"Point","coordinates":[-75.681111,4.533889]}}"#;
    let plots = plots_from_geojson(single).unwrap();
    assert_eq!(plots.len(), 1);
    assert_eq!(plots[0].id.as_deref(), Some("17"));
    assert_eq!(plots[0].area_ha, ha("0.75"));
    assert_eq!(
        plots_from_geojson(r#"{"type":"FeatureCollection","features":[]}"#),
        Ok(vec![])
    );
}

/// The error for `GEOJSON` with `from` replaced by `to`.
fn geojson_error(from: &str, to: &str) -> String {
    assert!(GEOJSON.contains(from), "{from}");
    plots_from_geojson(&GEOJSON.replacen(from, to, 1))
        .unwrap_err()
        .to_string()
}

#[test]
fn geojson_with_five_decimals_is_refused_naming_the_coordinate() {
    assert_eq!(
        geojson_error("4.5368891]", "4.53689]"),
        "features[1].geometry.coordinates[0][2][1]: `4.53689` has 5 decimals; at least six are needed (EU deforestation regulation), as in 4.609712"
    );
    // Trailing zeros count: 4.6 equals 4.600000 but says less.
    let e = geojson_error("[-75.681111, 4.533889]}", "[-75.68, 4.533889]}");
    assert!(
        e.starts_with("features[0].geometry.coordinates[0]: `-75.68` has 2 decimals"),
        "{e}"
    );
    let e = geojson_error("[-75.681111, 4.533889]}", "[-75.681111, 4533889e-6]}");
    assert!(e.contains("is not a number of degrees"), "{e}");
}

#[test]
fn geojson_refusals_name_the_place() {
    for (from, to, says) in [
        ("4.533889]}", "94.533889]}", "features[0].geometry.coordinates[1]: 94.533889 degrees is outside the range -90 to 90"),
        ("[-75.681111, 4.533889]}", "[-75.681111, 4.533889, 1500.000000]}", "features[0].geometry.coordinates: it has an altitude"),
        ("\"Area\": 2.5", "\"Area\": 4.5", "features[0].geometry: the plot declares 4.5 ha; a plot over 4 ha must be given as a polygon"),
        ("\"Area\": 2.5, ", "", "features[0].properties: the plot's area is missing; add `area_ha`"),
        ("\"Area\": 2.5", "\"Area\": 2.5, \"area_ha\": 2.5", "give the area once"),
        ("\"Area\": 2.5", "\"Area\": 0", "features[0].properties.Area: the area is 0 ha"),
        ("\"Area\": 2.5", "\"Area\": 2.5555", "features[0].properties.Area: invalid quantity `2.5555`"),
        ("\"Area\": 2.5", "\"Area\": true", "features[0].properties.Area: it is a boolean"),
        ("\"country\": \"CO\"", "\"country\": \"XX\"", "features[0].properties.country: `XX` is not an ISO 3166-1 alpha-2 country code"),
        ("\"name\": \"Finca", "\"name\": \"\\u0007Finca", "features[0].properties.name `\\u{7}Finca"),
        ("\"type\": \"Point\"", "\"type\": \"MultiPoint\"", "features[0].geometry.type: `MultiPoint` is not accepted; a plot's geometry must be a Point or a Polygon"),
        ("\"type\": \"Feature\",\n      \"id\"", "\"type\": \"Thing\",\n      \"id\"", "features[1].type: `Thing` is not a Feature"),
        ("[-75.681111, 4.533889], [-75.678111, 4.533889]", "[-75.681111, 4.533889], [-75.678111, \"4.533889\"]", "features[1].geometry.coordinates[0][1][1]: it is a string; expected a number"),
        ("[-75.681111, 4.533889]\n        ]]", "[-75.681111, 4.533888]\n        ]]", "features[1].geometry: the polygon is not closed"),
        ("[-75.678111, 4.5368891],", "[-75.681111, 4.536889], [-75.678111, 4.5368891],", "features[1].geometry: the polygon crosses itself (edge 1 meets edge 3)"),
        ("\"FeatureCollection\"", "\"GeometryCollection\"", "type: `GeometryCollection` is not accepted; give a FeatureCollection or a Feature"),
        ("\"features\"", "\"Features\"", "GeoJSON: the `features` member is missing"),
        ("\"id\": \"lote-7\", ", "\"id\": \"lote-7\", \"id\": \"x\", ", "the GeoJSON is not valid JSON at line 12, column 38: the member `id` appears twice"),
    ] {
        let e = geojson_error(from, to);
        assert!(e.contains(says), "{from:?} -> {to:?}:\n{e}\ndoes not say\n{says}");
    }
    let hole = GEOJSON.replace(
        "[-75.681111, 4.533889]\n        ]]",
        "[-75.681111, 4.533889]\n        ], [[-75.680111, 4.534889], [-75.679111, 4.534889], [-75.679111, 4.535889], [-75.680111, 4.534889]]]",
    );
    let e = plots_from_geojson(&hole).unwrap_err().to_string();
    assert_eq!(e, "features[1].geometry.coordinates: the polygon has 2 rings; holes are not accepted for a plot, give its outer ring only");
    let e = plots_from_geojson("[1, 2]").unwrap_err().to_string();
    assert_eq!(e, "GeoJSON: it is an array; expected an object");
    let cut = &GEOJSON[..GEOJSON.find("\"Area\"").unwrap()];
    let e = plots_from_geojson(cut).unwrap_err().to_string();
    assert!(
        e.starts_with("the GeoJSON is not valid JSON at line 6"),
        "{e}"
    );
}

fn sample_plots() -> Vec<Plot> {
    vec![
        point_plot("2.5"),
        Plot {
            id: Some("lote \"7\" \\ ñ".into()),
            geometry: Geometry::Polygon(vec![
                GeoPoint {
                    lat_micro: 4_600_000,
                    lon_micro: -75_000_000,
                },
                GeoPoint {
                    lat_micro: 4_600_000,
                    lon_micro: -74_990_000,
                },
                GeoPoint {
                    lat_micro: 4_610_000,
                    lon_micro: -74_990_000,
                },
                GeoPoint {
                    lat_micro: 4_600_000,
                    lon_micro: -75_000_000,
                },
            ]),
            area_ha: ha("123.456"),
            country: None,
        },
        Plot {
            id: None,
            geometry: Geometry::Point(GeoPoint {
                lat_micro: -1,
                lon_micro: 5,
            }),
            area_ha: ha("0.001"),
            country: Some("GH".parse().unwrap()),
        },
    ]
}

#[test]
fn plots_written_as_geojson_text_read_back_the_same() {
    let plots = sample_plots();
    let text = plots_to_geojson_text(&plots);
    assert!(text.contains("[-75.000000,4.600000]"), "{text}");
    assert!(text.contains("[0.000005,-0.000001]"), "{text}");
    assert_eq!(plots_from_geojson(&text), Ok(plots.clone()));
    // The text is the JSON of the value form, up to how numbers are written.
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, plots_to_geojson(&plots));
}

#[test]
fn plots_written_as_a_json_value_read_back_when_no_coordinate_ends_in_zero() {
    let plots = vec![
        point_plot("2.5"),
        polygon_plot(vec![
            p(2, 3),
            p(2, 3_003),
            p(3_002, 3_003),
            p(3_002, 3),
            p(2, 3),
        ]),
    ];
    let value = plots_to_geojson(&plots);
    assert_eq!(value["type"], "FeatureCollection");
    let point = &value["features"][0];
    assert_eq!(point["type"], "Feature");
    assert_eq!(point["geometry"]["type"], "Point");
    assert_eq!(
        point["geometry"]["coordinates"][0].as_f64(),
        Some(-75.681111)
    );
    assert_eq!(point["geometry"]["coordinates"][1].as_f64(), Some(4.533889));
    assert_eq!(point["properties"]["id"], "Finca La Esperanza");
    assert_eq!(point["properties"]["area_ha"].as_f64(), Some(2.5));
    assert_eq!(point["properties"]["country"], "CO");
    let polygon = &value["features"][1]["geometry"];
    assert_eq!(polygon["type"], "Polygon");
    assert_eq!(polygon["coordinates"].as_array().unwrap().len(), 1);
    assert_eq!(polygon["coordinates"][0].as_array().unwrap().len(), 5);
    let text = serde_json::to_string(&value).unwrap();
    assert!(text.contains("[-75.681108,4.533891]"), "{text}");
    assert_eq!(plots_from_geojson(&text), Ok(plots));
}

#[test]
fn the_json_value_form_loses_trailing_zeros_as_documented() {
    let text = serde_json::to_string(&plots_to_geojson(&sample_plots())).unwrap();
    assert!(text.contains("[-75.0,4.6]"), "{text}");
    let e = plots_from_geojson(&text).unwrap_err();
    assert!(matches!(e, GeoError::TooFewDecimals { .. }), "{e}");
}

/// Independent reference for rounding: `whole` micro-degrees followed by
/// `extra` further decimal digits, rounded half away from zero.
fn rounded(whole: i32, extra: &str) -> i32 {
    let up = extra.as_bytes().first().is_some_and(|&d| d >= b'5');
    let magnitude = whole.abs() + i32::from(up);
    if whole < 0 {
        -magnitude
    } else {
        magnitude
    }
}

proptest! {
    #[test]
    fn six_decimals_read_back_exactly(lat in -90_000_000i32..=90_000_000, lon in -180_000_000i32..=180_000_000) {
        prop_assert_eq!(parse_degrees("lat", &format_degrees(lat), 90), Ok(lat));
        prop_assert_eq!(parse_degrees("lon", &format_degrees(lon), 180), Ok(lon));
        prop_assert_eq!(format_degrees(lat).split_once('.').unwrap().1.len(), 6);
    }

    #[test]
    fn further_decimals_round_half_away_from_zero(micro in -179_999_999i32..=179_999_999, extra in "[0-9]{1,12}") {
        let text = format!("{}{extra}", format_degrees(micro));
        prop_assert_eq!(parse_degrees("lon", &text, 180), Ok(rounded(micro, &extra)));
    }

    #[test]
    fn beyond_the_limit_is_refused(over in 1i64..1_000_000_000_000, negative in any::<bool>()) {
        let micro = 90_000_000 + over;
        let text = format!("{}{}.{:06}", if negative { "-" } else { "" }, micro / 1_000_000, micro % 1_000_000);
        let refused = matches!(parse_degrees("lat", &text, 90), Err(GeoError::OutOfRange { .. }));
        prop_assert!(refused, "{}", text);
    }

    #[test]
    fn fewer_decimals_are_refused(int in 0u32..90, frac in "[0-9]{0,5}") {
        let text = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
        let refused = parse_degrees("lat", &text, 90);
        prop_assert_eq!(
            refused,
            Err(GeoError::TooFewDecimals { field: "lat".into(), input: text.clone(), decimals: frac.len() })
        );
    }

    #[test]
    fn a_rectangle_passes_and_its_bow_tie_does_not(
        north in -80_000_000i32..80_000_000,
        east in -170_000_000i32..170_000_000,
        height in 1i32..100_000,
        width in 1i32..100_000,
        start in 0usize..4,
    ) {
        let at = |dn: i32, de: i32| GeoPoint { lat_micro: north + dn, lon_micro: east + de };
        let corners = [at(0, 0), at(0, width), at(height, width), at(height, 0)];
        let ring = |order: [usize; 4]| {
            let mut ring: Vec<GeoPoint> = (0..4).map(|k| corners[order[(k + start) % 4]]).collect();
            ring.push(ring[0]);
            polygon_plot(ring)
        };
        prop_assert_eq!(check_plot("plots[0]", &ring([0, 1, 2, 3])), Ok(()));
        let crossed = check_plot("plots[0]", &ring([0, 2, 1, 3]));
        prop_assert!(matches!(crossed, Err(GeoError::SelfCrossing { .. })), "{:?}", crossed);
    }

    #[test]
    fn plots_read_back_from_geojson_text(
        lat in -89_000_000i32..89_000_000,
        lon in -179_000_000i32..179_000_000,
        size in 1i32..100_000,
        area in 1u64..4_000,
        id in proptest::option::of("[ -~ñé\"\\\\]{1,30}"),
        country in proptest::option::of(prop::sample::select(vec!["CO", "BR", "GH", "CI", "ID", "VN"])),
    ) {
        let corner = GeoPoint { lat_micro: lat, lon_micro: lon };
        let plots = vec![
            Plot {
                id: id.clone().filter(|s| !s.trim().is_empty()),
                geometry: Geometry::Point(corner),
                area_ha: Decimal3::from_milli(area),
                country: country.map(|c| c.parse::<Country>().unwrap()),
            },
            Plot {
                id: None,
                geometry: Geometry::Polygon(vec![
                    corner,
                    GeoPoint { lat_micro: lat, lon_micro: lon + size },
                    GeoPoint { lat_micro: lat + size, lon_micro: lon },
                    corner,
                ]),
                area_ha: Decimal3::from_milli(area * 1_000),
                country: None,
            },
        ];
        let text = plots_to_geojson_text(&plots);
        prop_assert_eq!(plots_from_geojson(&text), Ok(plots));
    }
}

// ---------------------------------------------------------------------------
// Sensor series

const T0: i64 = 1_700_000_000_000;

fn reefer(values: &[i32]) -> Series {
    let points: Vec<(i64, i32)> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| (T0 + i as i64 * 60_000, v))
        .collect();
    Series::from_points(
        "TT4-00731",
        Measure::Temperature,
        "CEL",
        Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        &points,
    )
    .unwrap()
}

#[test]
fn a_series_is_made_from_absolute_times() {
    let s = Series::from_points(
        "TT4-00731",
        Measure::RelativeHumidity,
        "P1",
        None,
        &[(T0, 55_000), (T0 + 1, 56_500), (T0 + 4_294_967_295, 60_000)],
    )
    .unwrap();
    assert_eq!(s.start_ms, T0);
    assert_eq!(
        s.readings,
        vec![
            Reading {
                offset_ms: 0,
                value_milli: 55_000
            },
            Reading {
                offset_ms: 1,
                value_milli: 56_500
            },
            Reading {
                offset_ms: u32::MAX,
                value_milli: 60_000
            },
        ]
    );
    assert_eq!(s.check(), Ok(()));
    assert_eq!(
        s.points().collect::<Vec<_>>(),
        vec![(T0, 55_000), (T0 + 1, 56_500), (T0 + 4_294_967_295, 60_000)]
    );
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<Series>(&json).unwrap(), s);
}

#[test]
fn non_monotonic_sensor_times_are_refused_naming_the_reading() {
    let mut s = reefer(&[4_000, 4_100, 4_200, 4_300]);
    s.readings[3].offset_ms = 90_000;
    assert_eq!(
        s.check().unwrap_err().to_string(),
        "series.readings[3]: time goes back (offset 90000 ms is not after the previous reading's 120000 ms); readings must be in strictly increasing time"
    );
    s.readings[3].offset_ms = 120_000;
    assert_eq!(
        s.check(),
        Err(SensorError::TimeGoesBack {
            index: 3,
            offset_ms: 120_000,
            previous_ms: 120_000
        })
    );
    let e = Series::from_points(
        "d",
        Measure::Temperature,
        "CEL",
        None,
        &[(T0, 1), (T0 + 10, 2), (T0 + 5, 3)],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("points[2]: time goes back ({} ms is not after the previous point's {} ms); give the points in strictly increasing time", T0 + 5, T0 + 10)
    );
    let e = Series::from_points("d", Measure::Temperature, "CEL", None, &[(T0, 1), (T0, 2)]);
    assert!(matches!(
        e,
        Err(SensorError::PointOutOfOrder { index: 1, .. })
    ));
}

#[test]
fn a_series_spanning_more_than_u32_ms_is_refused() {
    let e = Series::from_points(
        "d",
        Measure::Temperature,
        "CEL",
        None,
        &[(T0, 1), (T0 + 4_294_967_296, 2)],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("points[1] is 4294967296 ms after the first point"),
        "{e}"
    );
    let e = Series::from_points(
        "d",
        Measure::Temperature,
        "CEL",
        None,
        &[(i64::MIN, 1), (i64::MAX, 2)],
    )
    .unwrap_err();
    assert!(
        matches!(e, SensorError::SpanTooLong { index: 1, .. }),
        "{e}"
    );
}

#[test]
fn ten_million_readings_are_refused() {
    let readings: Vec<Reading> = (0..10_000_000u32)
        .map(|i| Reading {
            offset_ms: i,
            value_milli: 4_000,
        })
        .collect();
    let mut s = reefer(&[4_000]);
    s.readings = readings;
    assert_eq!(
        s.check().unwrap_err().to_string(),
        "series.readings: sensor series has 10000000 readings; at most 4096 per entry, split it into several"
    );
    s.readings.truncate(MAX_READINGS + 1);
    assert_eq!(
        s.check(),
        Err(SensorError::TooManyReadings {
            count: MAX_READINGS + 1
        })
    );
    s.readings.truncate(MAX_READINGS);
    assert_eq!(s.check(), Ok(()));
    let points: Vec<(i64, i32)> = (0..10_000_000).map(|i| (i, 0)).collect();
    let e = Series::from_points("d", Measure::Temperature, "CEL", None, &points);
    assert_eq!(e, Err(SensorError::TooManyReadings { count: 10_000_000 }));
}

#[test]
fn series_refusals_name_the_field() {
    fn refused(change: impl FnOnce(&mut Series), says: &str) {
        let mut s = reefer(&[4_000, 5_000]);
        change(&mut s);
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains(says), "{e:?} does not say {says:?}");
    }
    refused(|s| s.device = String::new(), "series.device is empty");
    refused(|s| s.device = "d".repeat(201), "series.device `ddd");
    refused(|s| s.device = "TT4\u{0}".into(), "U+0000");
    refused(
        |s| s.unit = "KGM".into(),
        "series.unit `KGM` is not a unit of temperature; use CEL, FAH or KEL",
    );
    refused(
        |s| s.measure = Measure::RelativeHumidity,
        "series.unit `CEL` is not a unit of relative humidity; use P1 (%)",
    );
    refused(|s| s.unit = "cel".into(), "series.unit `cel`");
    refused(
        |s| {
            s.range = Some(Range {
                min_milli: 8_000,
                max_milli: -18_500,
            })
        },
        "series.range: the minimum 8 is above the maximum -18.5",
    );
    refused(
        |s| s.readings.clear(),
        "series.readings is empty; a series needs at least one reading",
    );
    refused(
        |s| s.start_ms = i64::MAX - 59_999,
        "series.start_ms 9223372036854715808 plus the last reading's offset of 60000 ms is beyond the largest time",
    );
    for unit in ["CEL", "FAH", "KEL"] {
        let mut s = reefer(&[1]);
        s.unit = unit.into();
        assert_eq!(s.check(), Ok(()), "{unit}");
    }
    let mut s = reefer(&[1]);
    s.range = Some(Range {
        min_milli: 5,
        max_milli: 5,
    });
    s.start_ms = i64::MAX;
    assert_eq!(s.check(), Ok(()));
    assert_eq!(
        Series::from_points("d", Measure::Temperature, "CEL", None, &[]),
        Err(SensorError::NoReadings)
    );
}

#[test]
fn excursions_are_the_runs_outside_the_range() {
    let minute = 60_000;
    //            0      1      2       3      4      5      6       7      8
    let s = reefer(&[
        5_000, 9_000, 10_000, 8_500, 5_000, 1_000, -1_000, 8_000, 9_000,
    ]);
    assert_eq!(
        s.excursions(),
        vec![
            Excursion {
                from_ms: T0 + minute,
                to_ms: T0 + 3 * minute,
                worst_milli: 10_000,
                readings: 3
            },
            Excursion {
                from_ms: T0 + 5 * minute,
                to_ms: T0 + 6 * minute,
                worst_milli: -1_000,
                readings: 2
            },
            Excursion {
                from_ms: T0 + 8 * minute,
                to_ms: T0 + 8 * minute,
                worst_milli: 9_000,
                readings: 1
            },
        ]
    );
    // One run across both sides: the farther side is the worst; on a tie
    // the first.
    let s = reefer(&[12_000, -5_000, 4_000, 11_000, -1_000]);
    let runs = s.excursions();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].worst_milli, runs[0].readings), (-5_000, 2));
    assert_eq!((runs[1].worst_milli, runs[1].readings), (11_000, 2));
    // The bounds are inside.
    assert_eq!(reefer(&[2_000, 8_000, 5_000]).excursions(), vec![]);
    let mut s = reefer(&[-40_000, 40_000]);
    s.range = None;
    assert_eq!(s.excursions(), vec![]);
}

#[test]
fn milli_values_are_written_without_trailing_zeros() {
    assert_eq!(format_milli(-18_500), "-18.5");
    assert_eq!(format_milli(4_000), "4");
    assert_eq!(format_milli(1), "0.001");
}

proptest! {
    #[test]
    fn excursions_cover_exactly_the_readings_outside(
        values in prop::collection::vec(-5_000i32..15_000, 1..200),
    ) {
        let s = reefer(&values);
        let range = s.range.unwrap();
        let outside = |v: i32| v < range.min_milli || v > range.max_milli;
        let time = |i: usize| T0 + i as i64 * 60_000;
        let runs = s.excursions();
        prop_assert_eq!(
            runs.iter().map(|r| r.readings).sum::<usize>(),
            values.iter().filter(|&&v| outside(v)).count()
        );
        for run in &runs {
            let first = usize::try_from((run.from_ms - T0) / 60_000).unwrap();
            let last = usize::try_from((run.to_ms - T0) / 60_000).unwrap();
            prop_assert_eq!(time(first), run.from_ms);
            prop_assert_eq!(last + 1 - first, run.readings);
            let inside_run = &values[first..=last];
            prop_assert!(inside_run.iter().all(|&v| outside(v)));
            // Maximal: the readings either side are inside.
            prop_assert!(first == 0 || !outside(values[first - 1]));
            prop_assert!(last + 1 == values.len() || !outside(values[last + 1]));
            let distance = |v: i32| (range.min_milli - v).max(v - range.max_milli);
            let worst = inside_run.iter().map(|&v| distance(v)).max().unwrap();
            prop_assert_eq!(distance(run.worst_milli), worst);
            prop_assert!(inside_run.contains(&run.worst_milli));
        }
        prop_assert!(runs.windows(2).all(|w| w[0].to_ms < w[1].from_ms));
    }

    #[test]
    fn milli_text_reads_back(v in any::<i32>()) {
        let text = format_milli(v);
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        prop_assert!(frac.len() <= 3 && !frac.ends_with('0'), "{}", text);
        prop_assert!(int == "0" || !int.starts_with('0'), "{}", text);
        let magnitude: i64 = int.parse::<i64>().unwrap() * 1000
            + format!("{frac:0<3}").parse::<i64>().unwrap();
        prop_assert_eq!(if negative { -magnitude } else { magnitude }, i64::from(v));
        prop_assert_eq!(negative, v < 0);
    }

    #[test]
    fn a_series_from_points_gives_its_points_back(
        start in -1_000_000_000_000_000i64..1_000_000_000_000_000,
        steps in prop::collection::vec((1i64..100_000, any::<i32>()), 1..100),
    ) {
        let mut t = start;
        let points: Vec<(i64, i32)> = steps
            .iter()
            .map(|&(step, v)| {
                t += step;
                (t, v)
            })
            .collect();
        let s = Series::from_points("d", Measure::Temperature, "KEL", None, &points).unwrap();
        prop_assert_eq!(s.points().collect::<Vec<_>>(), points);
    }
}
