//! The canonical codec as seen from outside: generated signed entries of
//! every body kind (the first six and issue 25's: productions with plots
//! and key data elements, partial dispatches and receipts with transport
//! facts, handovers, sensor readings, recalls, their lifting and
//! corrections) round trip through canonical bytes and JSON; no single-byte
//! change to a signed
//! entry ever yields an entry that verifies; malformed, truncated, padded,
//! oversized and non-canonical input is refused with a `CodecError`.

// Tests fail by panicking; the workspace denies these in production code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::*;
use waybill_core::codec::{CodecError, MAX_ENTRY_BYTES};
use waybill_core::codes::{Country, Currency, Decimal3, FxRate, HsCode, Incoterm, Uetr, UnitCode};
use waybill_core::crypto::{self, Hash32, PublicKey};
use waybill_core::entry::{
    Body, Corrected, Correction, Customs, Dispatch, DispatchV2, DocRef, Entry, GeoPoint, Handover,
    Input, Kdes, Location, LossCause, MembershipChange, Payment, PaymentMethod, PaymentStatus,
    PlotFacts, Produce, ProduceV2, Product, Quantity, Readings, Recall, RecallClass, RecallLift,
    Receive, ReceiveV2, ReceivedLot, ReferenceDocument, ReferenceDocumentType, Reject, Settlement,
    ShippedLot, Shortfall, SignedEntry,
};
use waybill_core::genesis::{MemberSpec, Role, ValidatorSpec};
use waybill_core::geo::{Geometry, Plot};
use waybill_core::governance::{Compromise, GovernanceChange, GovernanceEntry};
use waybill_core::gs1::{gs1_check_digit, CompanyPrefix, Gln, Gtin, LotId, ShipmentId, Sscc};
use waybill_core::sensor::{Measure, Range, Reading, Series};
use waybill_core::terms::{PaymentConfirmation, Sealed, SealedPayment, TermField};
use waybill_core::transport::{
    container_check_digit, ContainerNumber, ImoNumber, Transport, Vessel,
};

// ---------------------------------------------------------------------------
// Generators

fn digits(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(0u8..10, n)
        .prop_map(|ds| ds.into_iter().map(|d| char::from(b'0' + d)).collect())
}

fn with_check(body: String) -> String {
    let c = gs1_check_digit(&body).unwrap();
    format!("{body}{c}")
}

fn gtin() -> impl Strategy<Value = Gtin> {
    digits(13).prop_map(|b| with_check(b).parse().unwrap())
}

fn gln() -> impl Strategy<Value = Gln> {
    digits(12).prop_map(|b| with_check(b).parse().unwrap())
}

fn sscc() -> impl Strategy<Value = Sscc> {
    digits(17).prop_map(|b| with_check(b).parse().unwrap())
}

fn free_id() -> impl Strategy<Value = String> {
    // Never starts like a GS1 form: no `(`, `:` or `/`.
    "[A-Za-z][A-Za-z0-9._+-]{0,40}"
}

fn lot_id() -> impl Strategy<Value = LotId> {
    prop_oneof![
        (gtin(), "[A-Za-z0-9_%&()*+,./:;<=>?!-]{1,20}")
            .prop_map(|(g, l)| LotId::batch(g, &l).unwrap()),
        (gtin(), "[A-Za-z0-9]{1,20}").prop_map(|(g, s)| LotId::serial(g, &s).unwrap()),
        sscc().prop_map(LotId::from),
        free_id().prop_map(|s| LotId::free(&s).unwrap()),
    ]
}

fn shipment_id() -> impl Strategy<Value = ShipmentId> {
    prop_oneof![
        sscc().prop_map(ShipmentId::from),
        free_id().prop_map(|s| ShipmentId::free(&s).unwrap()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,30}"
}

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    prop_oneof![
        any::<u8>().prop_map(|s| crypto::public_key(&key(s))),
        any::<[u8; 32]>().prop_map(PublicKey),
    ]
}

fn country() -> impl Strategy<Value = Country> {
    let all: Vec<Country> = Country::all().collect();
    prop::sample::select(all)
}

fn currency_s() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["EUR", "USD", "COP", "JPY", "BHD", "CHF", "XAU", "BRL"])
        .prop_map(|c| c.parse().unwrap())
}

fn decimal() -> impl Strategy<Value = Decimal3> {
    any::<u64>().prop_map(Decimal3::from_milli)
}

fn fx_rate() -> impl Strategy<Value = FxRate> {
    (1u128..).prop_map(|n| FxRate::from_nano(n).unwrap())
}

fn uetr_s() -> impl Strategy<Value = Uetr> {
    any::<u128>().prop_map(|x| {
        let v4 = (x & !(0xf << 76)) | (0x4 << 76);
        let rfc = (v4 & !(0x3 << 62)) | (0x2 << 62);
        Uetr::from_uuid(uuid::Uuid::from_u128(rfc)).unwrap()
    })
}

fn hs_code() -> impl Strategy<Value = HsCode> {
    (6usize..=10)
        .prop_flat_map(digits)
        .prop_map(|d| d.parse().unwrap())
}

fn doc_ref() -> impl Strategy<Value = DocRef> {
    (
        hash(),
        "[a-z]{1,10}/[a-z.+-]{1,20}",
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(sha256, media_type, uri, label)| DocRef {
            sha256,
            media_type,
            uri,
            label,
        })
}

fn docs() -> impl Strategy<Value = Vec<DocRef>> {
    prop::collection::vec(doc_ref(), 0..3)
}

fn location() -> impl Strategy<Value = Location> {
    (
        prop::option::of(gln()),
        prop::option::of(country()),
        prop::option::of(text()),
        prop::option::of((any::<i32>(), any::<i32>())),
    )
        .prop_map(|(gln, country, name, geo)| Location {
            gln,
            country,
            name,
            geo: geo.map(|(lat_micro, lon_micro)| GeoPoint {
                lat_micro,
                lon_micro,
            }),
        })
}

fn produce_s() -> impl Strategy<Value = Produce> {
    (
        lot_id(),
        (
            prop::option::of(gtin()),
            prop::option::of(free_id()),
            text(),
        ),
        (decimal(), prop::sample::select(UnitCode::ALL.to_vec())),
        location(),
        any::<i64>(),
        docs(),
        docs(),
        prop::collection::vec((lot_id(), decimal()), 0..3),
    )
        .prop_map(
            |(
                lot,
                (gtin, id, description),
                (value, unit),
                origin,
                produced_at_ms,
                certificates,
                documents,
                inputs,
            )| Produce {
                lot,
                product: Product {
                    gtin,
                    id,
                    description,
                },
                quantity: Quantity { value, unit },
                origin,
                produced_at_ms,
                certificates,
                documents,
                inputs: inputs
                    .into_iter()
                    .map(|(lot, quantity)| Input { lot, quantity })
                    .collect(),
            },
        )
}

fn dispatch_s() -> impl Strategy<Value = Dispatch> {
    (
        shipment_id(),
        prop::collection::vec(lot_id(), 0..4),
        public_key(),
        prop::option::of(public_key()),
        location(),
        location(),
        docs(),
    )
        .prop_map(
            |(shipment, lots, consignee, carrier, from, to, documents)| Dispatch {
                shipment,
                lots,
                consignee,
                carrier,
                from,
                to,
                documents,
            },
        )
}

fn payment_s() -> impl Strategy<Value = Payment> {
    (
        (uetr_s(), public_key(), public_key()),
        (any::<u64>(), currency_s()),
        prop::option::of((any::<u64>(), currency_s(), fx_rate())),
        prop::sample::select(Incoterm::ALL.to_vec()),
        prop::collection::vec(shipment_id(), 0..3),
        prop::option::of((
            prop::collection::vec(hs_code(), 0..3),
            prop::option::of(hash()),
        )),
        prop::sample::select(vec![
            PaymentMethod::SwiftTransfer,
            PaymentMethod::SepaTransfer,
            PaymentMethod::LetterOfCredit,
            PaymentMethod::DocumentaryCollection,
            PaymentMethod::OpenAccount,
            PaymentMethod::Other,
        ]),
        prop::bool::ANY,
    )
        .prop_map(
            |(
                (payment_id, payer, payee),
                (amount_minor, currency),
                settlement,
                incoterm,
                shipments,
                customs,
                method,
                settled,
            )| Payment {
                payment_id,
                payer,
                payee,
                amount_minor,
                currency,
                settlement: settlement.map(|(amount_minor, currency, fx_rate)| Settlement {
                    amount_minor,
                    currency,
                    fx_rate,
                }),
                incoterm,
                shipments,
                customs: customs.map(|(hs_codes, declaration_sha256)| Customs {
                    hs_codes,
                    declaration_sha256,
                }),
                method,
                status: if settled {
                    PaymentStatus::Settled
                } else {
                    PaymentStatus::Initiated
                },
            },
        )
}

fn sealed_payment_s() -> impl Strategy<Value = SealedPayment> {
    (
        (uetr_s(), public_key(), public_key()),
        prop::collection::vec(shipment_id(), 0..3),
        prop::bool::ANY,
        prop::sample::subsequence(TermField::ALL.to_vec(), 0..=10),
        prop::collection::vec(hash(), 10),
    )
        .prop_map(
            |((payment_id, payer, payee), shipments, settled, fields, commitments)| SealedPayment {
                payment_id,
                payer,
                payee,
                shipments,
                status: if settled {
                    PaymentStatus::Settled
                } else {
                    PaymentStatus::Initiated
                },
                terms: fields
                    .into_iter()
                    .zip(commitments)
                    .map(|(field, commitment)| Sealed { field, commitment })
                    .collect(),
            },
        )
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    prop::sample::subsequence(Role::ALL.to_vec(), 0..=8)
}

fn member_spec() -> impl Strategy<Value = MemberSpec> {
    (
        text(),
        public_key(),
        roles(),
        prop::option::of(country()),
        prop::collection::vec(
            (4usize..=12)
                .prop_flat_map(digits)
                .prop_map(|d| d.parse::<CompanyPrefix>().unwrap()),
            0..3,
        ),
    )
        .prop_map(
            |(name, public_key, roles, country, gs1_company_prefixes)| MemberSpec {
                name,
                public_key,
                roles,
                country,
                gs1_company_prefixes,
            },
        )
}

fn membership_s() -> impl Strategy<Value = MembershipChange> {
    prop_oneof![
        member_spec().prop_map(MembershipChange::Add),
        public_key().prop_map(|public_key| MembershipChange::Remove { public_key }),
        (public_key(), public_key())
            .prop_map(|(old, new)| MembershipChange::RotateKey { old, new }),
        (public_key(), roles())
            .prop_map(|(public_key, roles)| MembershipChange::SetRoles { public_key, roles }),
    ]
}

fn company_prefix() -> impl Strategy<Value = CompanyPrefix> {
    (4usize..=12)
        .prop_flat_map(digits)
        .prop_map(|d| d.parse::<CompanyPrefix>().unwrap())
}

fn governance_s() -> impl Strategy<Value = GovernanceEntry> {
    let validator = (
        text(),
        public_key(),
        any::<u64>(),
        prop::collection::vec(text(), 0..3),
    )
        .prop_map(|(name, public_key, power, p2p)| ValidatorSpec {
            name,
            public_key,
            power,
            p2p,
        });
    let compromise = prop::option::of(prop_oneof![
        any::<i64>().prop_map(Compromise::Time),
        any::<u64>().prop_map(Compromise::Height),
    ]);
    let change = prop_oneof![
        member_spec().prop_map(GovernanceChange::AddMember),
        public_key().prop_map(|public_key| GovernanceChange::RemoveMember { public_key }),
        (public_key(), roles())
            .prop_map(|(public_key, roles)| GovernanceChange::SetRoles { public_key, roles }),
        (public_key(), public_key())
            .prop_map(|(old, new)| GovernanceChange::RotateKey { old, new }),
        (public_key(), compromise, prop::option::of(public_key())).prop_map(
            |(public_key, compromised_since, replacement)| GovernanceChange::RevokeKey {
                public_key,
                compromised_since,
                replacement,
            }
        ),
        prop::option::of(any::<u32>())
            .prop_map(|threshold| GovernanceChange::SetAdminThreshold { threshold }),
        (public_key(), company_prefix())
            .prop_map(|(member, prefix)| GovernanceChange::AssignPrefix { member, prefix }),
        (company_prefix(), public_key())
            .prop_map(|(prefix, to)| GovernanceChange::TransferPrefix { prefix, to }),
        validator.prop_map(GovernanceChange::AddValidator),
        public_key().prop_map(|public_key| GovernanceChange::RemoveValidator { public_key }),
        (public_key(), any::<u64>()).prop_map(|(public_key, power)| {
            GovernanceChange::SetValidatorPower { public_key, power }
        }),
        (public_key(), public_key())
            .prop_map(|(old, new)| GovernanceChange::RotateValidatorKey { old, new }),
        (public_key(), public_key())
            .prop_map(|(member, node_key)| GovernanceChange::BindNodeKey { member, node_key }),
        public_key().prop_map(|node_key| GovernanceChange::UnbindNodeKey { node_key }),
    ];
    (any::<u64>(), change).prop_map(|(effective_height, change)| GovernanceEntry {
        effective_height,
        change,
    })
}

// The later kinds (issue 25). Generated values need only be encodable:
// the codec does not judge them (shape and rules do), so plots need not
// close and ranges need not be ordered; container and IMO numbers carry
// their check digits, since they are parsed when decoded.

fn quantity_s() -> impl Strategy<Value = Quantity> {
    (decimal(), prop::sample::select(UnitCode::ALL.to_vec()))
        .prop_map(|(value, unit)| Quantity { value, unit })
}

fn geo_point() -> impl Strategy<Value = GeoPoint> {
    (any::<i32>(), any::<i32>()).prop_map(|(lat_micro, lon_micro)| GeoPoint {
        lat_micro,
        lon_micro,
    })
}

fn plot() -> impl Strategy<Value = Plot> {
    (
        prop::option::of(text()),
        prop_oneof![
            geo_point().prop_map(Geometry::Point),
            prop::collection::vec(geo_point(), 0..7).prop_map(Geometry::Polygon),
        ],
        decimal(),
        prop::option::of(country()),
    )
        .prop_map(|(id, geometry, area_ha, country)| Plot {
            id,
            geometry,
            area_ha,
            country,
        })
}

fn plot_facts() -> impl Strategy<Value = PlotFacts> {
    (
        prop::collection::vec(plot(), 0..3),
        any::<i64>(),
        any::<i64>(),
        any::<bool>(),
        prop::option::of(text()),
    )
        .prop_map(
            |(plots, harvest_start_ms, harvest_end_ms, deforestation_free, due_diligence_ref)| {
                PlotFacts {
                    plots,
                    harvest_start_ms,
                    harvest_end_ms,
                    deforestation_free,
                    due_diligence_ref,
                }
            },
        )
}

fn kdes() -> impl Strategy<Value = Kdes> {
    (
        prop::option::of((
            prop::sample::select(ReferenceDocumentType::ALL.to_vec()),
            text(),
        )),
        prop::option::of(location()),
    )
        .prop_map(|(reference_document, tlc_source)| Kdes {
            reference_document: reference_document
                .map(|(kind, number)| ReferenceDocument { kind, number }),
            tlc_source,
        })
}

fn container() -> impl Strategy<Value = ContainerNumber> {
    (
        "[A-Z]{3}",
        prop::sample::select(vec!['U', 'J', 'Z']),
        digits(6),
    )
        .prop_map(|(owner, category, serial)| {
            let body = format!("{owner}{category}{serial}");
            let check = container_check_digit(&body).unwrap();
            format!("{body}{check}").parse().unwrap()
        })
}

fn imo() -> impl Strategy<Value = ImoNumber> {
    (0u32..1_000_000).prop_map(|six| {
        // The IMO check digit: the six digits weighted 7 down to 2.
        let check: u32 = (0..6).map(|i| (six / 10u32.pow(i)) % 10 * (i + 2)).sum();
        format!("{six:06}{}", check % 10).parse().unwrap()
    })
}

fn transport() -> impl Strategy<Value = Transport> {
    (
        prop::option::of(text()),
        prop::collection::vec(container(), 0..3),
        prop::collection::vec(text(), 0..3),
        prop::option::of((imo(), prop::option::of(text()), prop::option::of(text()))),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<i64>()),
    )
        .prop_map(
            |(bill_of_lading, containers, seals, vessel, departed_at_ms, arrived_at_ms)| {
                Transport {
                    bill_of_lading,
                    containers,
                    seals,
                    vessel: vessel.map(|(imo, name, voyage)| Vessel { imo, name, voyage }),
                    departed_at_ms,
                    arrived_at_ms,
                }
            },
        )
}

fn produce_v2_s() -> impl Strategy<Value = ProduceV2> {
    (produce_s(), prop::option::of(plot_facts()), kdes()).prop_map(|(produce, plots, kdes)| {
        ProduceV2 {
            produce,
            plots,
            kdes,
        }
    })
}

fn dispatch_v2_s() -> impl Strategy<Value = DispatchV2> {
    (
        dispatch_s(),
        prop::collection::vec(prop::option::of(quantity_s()), 0..4),
        transport(),
        kdes(),
    )
        .prop_map(|(d, quantities, transport, kdes)| DispatchV2 {
            shipment: d.shipment,
            lots: d
                .lots
                .into_iter()
                .zip(quantities.into_iter().chain(std::iter::repeat(None)))
                .map(|(lot, quantity)| ShippedLot { lot, quantity })
                .collect(),
            consignee: d.consignee,
            carrier: d.carrier,
            from: d.from,
            to: d.to,
            documents: d.documents,
            transport,
            kdes,
        })
}

fn received_lot() -> impl Strategy<Value = ReceivedLot> {
    (
        lot_id(),
        quantity_s(),
        prop::option::of((
            quantity_s(),
            prop::sample::select(LossCause::ALL.to_vec()),
            prop::option::of(text()),
        )),
    )
        .prop_map(|(lot, received, shortfall)| ReceivedLot {
            lot,
            received,
            shortfall: shortfall.map(|(quantity, cause, note)| Shortfall {
                quantity,
                cause,
                note,
            }),
        })
}

fn receive_v2_s() -> impl Strategy<Value = ReceiveV2> {
    (
        shipment_id(),
        location(),
        docs(),
        prop::collection::vec(received_lot(), 0..3),
        transport(),
        kdes(),
    )
        .prop_map(
            |(shipment, at, documents, lots, transport, kdes)| ReceiveV2 {
                shipment,
                at,
                documents,
                lots,
                transport,
                kdes,
            },
        )
}

fn handover_s() -> impl Strategy<Value = Handover> {
    (shipment_id(), public_key(), location(), transport(), docs()).prop_map(
        |(shipment, to, at, transport, documents)| Handover {
            shipment,
            to,
            at,
            transport,
            documents,
        },
    )
}

fn series() -> impl Strategy<Value = Series> {
    (
        text(),
        prop::sample::select(Measure::ALL.to_vec()),
        prop_oneof![
            prop::sample::select(vec!["CEL", "FAH", "KEL", "P1"]).prop_map(String::from),
            text(),
        ],
        prop::option::of((any::<i32>(), any::<i32>())),
        any::<i64>(),
        prop::collection::vec((any::<u32>(), any::<i32>()), 0..8),
    )
        .prop_map(
            |(device, measure, unit, range, start_ms, readings)| Series {
                device,
                measure,
                unit,
                range: range.map(|(min_milli, max_milli)| Range {
                    min_milli,
                    max_milli,
                }),
                start_ms,
                readings: readings
                    .into_iter()
                    .map(|(offset_ms, value_milli)| Reading {
                        offset_ms,
                        value_milli,
                    })
                    .collect(),
            },
        )
}

fn readings_s() -> impl Strategy<Value = Readings> {
    (shipment_id(), prop::collection::vec(series(), 0..3))
        .prop_map(|(shipment, series)| Readings { shipment, series })
}

fn recall_s() -> impl Strategy<Value = Recall> {
    (
        prop::collection::vec(lot_id(), 0..4),
        prop::sample::select(vec![RecallClass::Recall, RecallClass::Withdrawal]),
        text(),
        text(),
        docs(),
    )
        .prop_map(|(lots, class, reason, scope, documents)| Recall {
            lots,
            class,
            reason,
            scope,
            documents,
        })
}

fn recall_lift_s() -> impl Strategy<Value = RecallLift> {
    (hash(), prop::collection::vec(lot_id(), 0..4), text()).prop_map(|(recall, lots, reason)| {
        RecallLift {
            recall,
            lots,
            reason,
        }
    })
}

fn correction_s() -> impl Strategy<Value = Correction> {
    (
        hash(),
        prop_oneof![
            lot_id().prop_map(Corrected::Lot),
            shipment_id().prop_map(Corrected::Shipment),
            uetr_s().prop_map(Corrected::Payment),
            shipment_id().prop_map(Corrected::Receipt),
            shipment_id().prop_map(Corrected::Readings),
        ],
        text(),
        prop::collection::vec(hash(), 0..3),
    )
        .prop_map(|(target, corrected, reason, corrective)| Correction {
            target,
            corrected,
            reason,
            corrective,
        })
}

/// A body of any kind, each kind about as likely.
fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        produce_s().prop_map(Body::Produce),
        dispatch_s().prop_map(Body::Dispatch),
        (shipment_id(), location(), docs()).prop_map(|(shipment, at, documents)| Body::Receive(
            Receive {
                shipment,
                at,
                documents
            }
        )),
        (shipment_id(), text())
            .prop_map(|(shipment, reason)| Body::Reject(Reject { shipment, reason })),
        payment_s().prop_map(Body::Payment),
        sealed_payment_s().prop_map(Body::SealedPayment),
        (uetr_s(), hash()).prop_map(|(payment_id, terms)| Body::PaymentConfirmation(
            PaymentConfirmation { payment_id, terms }
        )),
        membership_s().prop_map(Body::Membership),
        produce_v2_s().prop_map(Body::ProduceV2),
        dispatch_v2_s().prop_map(Body::DispatchV2),
        receive_v2_s().prop_map(Body::ReceiveV2),
        handover_s().prop_map(Body::Handover),
        readings_s().prop_map(Body::Readings),
        recall_s().prop_map(Body::Recall),
        recall_lift_s().prop_map(Body::RecallLift),
        correction_s().prop_map(Body::Correction),
        governance_s().prop_map(Body::Governance),
    ]
}

/// A signed entry by the key of seed `author`, co-signed by `cosigners`.
fn signed_entry() -> impl Strategy<Value = SignedEntry> {
    (
        any::<u8>(),
        any::<u16>(),
        hash(),
        any::<u64>(),
        any::<i64>(),
        body(),
        prop::collection::vec(any::<u8>(), 0..3),
    )
        .prop_map(
            |(author, version, chain_id, nonce, recorded_at_ms, body, cosigners)| {
                let k = key(author);
                let e = Entry {
                    version,
                    chain_id,
                    author: crypto::public_key(&k),
                    nonce,
                    recorded_at_ms,
                    body,
                };
                let mut s = e.sign(&k);
                for c in cosigners {
                    s.cosign(&key(c));
                }
                s
            },
        )
}

// ---------------------------------------------------------------------------
// Round trips

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn canonical_bytes_round_trip(e in signed_entry()) {
        let bytes = e.canonical_bytes();
        prop_assert!(bytes.len() <= MAX_ENTRY_BYTES);
        let back = SignedEntry::from_canonical_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.canonical_bytes(), bytes);
        prop_assert_eq!(back.id(), e.id());
        prop_assert!(back.verify_signatures().is_ok());
    }

    #[test]
    fn json_round_trip(e in signed_entry()) {
        let json = serde_json::to_string(&e).unwrap();
        let back: SignedEntry = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &e);
        prop_assert_eq!(back.id(), e.id());
        let pretty = serde_json::to_string_pretty(&e).unwrap();
        let back: SignedEntry = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(back, e);
    }

    #[test]
    fn a_random_byte_change_never_verifies(
        e in signed_entry(),
        pos in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let bytes = e.canonical_bytes();
        let i = pos.index(bytes.len());
        let mut changed = bytes.clone();
        changed[i] = if value == bytes[i] { value ^ 0x80 } else { value };
        prop_assert!(verifies(&changed).is_none(), "byte {} changed, entry still verifies", i);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedEntry::from_canonical_bytes(&bytes);
    }
}

/// The decoded entry if the bytes decode to one whose signatures verify.
fn verifies(bytes: &[u8]) -> Option<SignedEntry> {
    SignedEntry::from_canonical_bytes(bytes)
        .ok()
        .filter(|d| d.verify_signatures().is_ok())
}

// ---------------------------------------------------------------------------
// Every single-byte change fails

/// A few fixed signed entries covering every body kind and co-signatures
/// (a membership change with two co-signatures last).
fn fixed_entries() -> Vec<SignedEntry> {
    let mut v = first_kinds_fixed_entries();
    let membership = v.pop().unwrap();
    v.extend(later_fixed_entries());
    v.push(membership);
    v
}

/// Fixed entries of the first six kinds (a membership change with two
/// co-signatures last).
fn first_kinds_fixed_entries() -> Vec<SignedEntry> {
    let c = Consortium::new();
    let chain = c.chain_id();
    let mut p = produce_body("GREEN-1", "600");
    p.lot = LotId::batch(BRAND_GTIN.parse().unwrap(), "HARVEST(24)").unwrap();
    p.product.gtin = Some(BRAND_GTIN.parse().unwrap());
    p.origin = Location {
        gln: Some("9506000134352".parse().unwrap()),
        country: Some("CO".parse().unwrap()),
        name: Some("Huila, Colombia — finca".into()),
        geo: Some(GeoPoint {
            lat_micro: 2_535_000,
            lon_micro: -75_527_000,
        }),
    };
    p.certificates = vec![doc("fairtrade certificate")];
    p.inputs = vec![Input {
        lot: lot("CHERRY-1"),
        quantity: dec("1200.5"),
    }];
    // Terms in the clear: refused by the rules now, still decoded.
    let pay = Payment {
        payment_id: uetr(42),
        payer: c.payer.pk,
        payee: c.processor.pk,
        amount_minor: 1_234_567,
        currency: currency("EUR"),
        settlement: Some(Settlement {
            amount_minor: 1_333_333,
            currency: currency("USD"),
            fx_rate: "1.08".parse().unwrap(),
        }),
        incoterm: Incoterm::Fob,
        shipments: vec![ship("S-1")],
        customs: Some(Customs {
            hs_codes: vec!["0901.21".parse().unwrap()],
            declaration_sha256: Some(Hash32::digest(b"declaration")),
        }),
        method: PaymentMethod::SwiftTransfer,
        status: PaymentStatus::Settled,
    };
    let (sealed, _) = sealed_with(
        uetr(43),
        &c.payer.pk,
        &c.processor.pk,
        &["S-1"],
        &waybill_core::terms::Terms {
            settlement: pay.settlement.clone(),
            hs_codes: vec!["0901.21".parse().unwrap()],
            customs_declaration: Some(Hash32::digest(b"declaration")),
            invoice: Some("INV-1".into()),
            ..waybill_testkit::sealed::fob(1_234_567, currency("EUR"))
        },
    );
    let membership = cosigned(
        signed(
            chain,
            &c.admins[0],
            1,
            rotate_key(&c.producer.pk, &crypto::public_key(&key(21))),
        ),
        &[&c.admins[1], &c.admins[2]],
    );
    vec![
        signed(chain, &c.producer, 1, Body::Produce(p)),
        signed(
            chain,
            &c.producer,
            2,
            dispatch(
                "(00)106141411234567897",
                &["GREEN-1", "GREEN-2"],
                &c.processor.pk,
                Some(&c.carrier.pk),
            ),
        ),
        signed(chain, &c.carrier, 1, receive("S-1")),
        signed(chain, &c.processor, 1, reject("S-1", "wet beans")),
        signed(chain, &c.payer, 1, Body::Payment(pay)),
        signed(chain, &c.payer, 2, Body::SealedPayment(sealed.clone())),
        signed(
            chain,
            &c.processor,
            2,
            waybill_testkit::sealed::confirm(&sealed),
        ),
        membership,
    ]
}

/// One entry of each of issue 25's kinds, with their optional fields
/// filled in (the handover co-signed by the next carrier).
fn later_fixed_entries() -> Vec<SignedEntry> {
    let c = Consortium::new();
    let chain = c.chain_id();
    let point = |lat_micro, lon_micro| GeoPoint {
        lat_micro,
        lon_micro,
    };
    let transport = Transport {
        bill_of_lading: Some("MEDUBU123456".into()),
        containers: vec!["CSQU3054383".parse().unwrap()],
        seals: vec!["ML-4471123".into()],
        vessel: Some(Vessel {
            imo: "IMO 9074729".parse().unwrap(),
            name: Some("MSC Atlantic".into()),
            voyage: Some("FA428R".into()),
        }),
        departed_at_ms: Some(T0 - 86_400_000),
        arrived_at_ms: Some(T0),
    };
    let kdes = Kdes {
        reference_document: Some(ReferenceDocument {
            kind: ReferenceDocumentType::BillOfLading,
            number: "MEDUBU123456".into(),
        }),
        tlc_source: Some(place("Beneficio La Esperanza", "CO")),
    };
    let mut p = produce_v2_body("GREEN-1", "600");
    p.plots = Some(PlotFacts {
        plots: vec![
            Plot {
                id: Some("El Mirador".into()),
                geometry: Geometry::Point(point(1_853_123, -76_051_456)),
                area_ha: dec("3.25"),
                country: Some("CO".parse().unwrap()),
            },
            Plot {
                id: None,
                geometry: Geometry::Polygon(vec![
                    point(1_850_000, -76_050_000),
                    point(1_850_000, -76_045_000),
                    point(1_855_000, -76_045_000),
                    point(1_850_000, -76_050_000),
                ]),
                area_ha: dec("30.9"),
                country: None,
            },
        ],
        harvest_start_ms: T0 - 90 * 86_400_000,
        harvest_end_ms: T0 - 30 * 86_400_000,
        deforestation_free: true,
        due_diligence_ref: Some("EUDR-DDS-2024-000123".into()),
    });
    p.kdes = kdes.clone();
    let mut d = dispatch_v2_body(
        "S-2",
        &[
            ("GREEN-1", Some(quantity("0.5", UnitCode::Tne))),
            ("GREEN-2", None),
        ],
        &c.processor.pk,
        Some(&c.carrier.pk),
    );
    d.transport = transport.clone();
    d.kdes = kdes.clone();
    let mut r = receive_v2_body(
        "S-2",
        &[received(
            "GREEN-1",
            kg("490"),
            Some((kg("10"), LossCause::Damage)),
        )],
    );
    r.transport = transport.clone();
    r.kdes = kdes;
    let Body::Handover(mut h) = handover("S-2", &c.distributor.pk) else {
        unreachable!()
    };
    h.transport = transport;
    h.documents = vec![doc("transshipment note")];
    let series = Series {
        device: "LOGGER-0001".into(),
        measure: Measure::Temperature,
        unit: "CEL".into(),
        range: Some(Range {
            min_milli: 2_000,
            max_milli: 8_000,
        }),
        start_ms: T0,
        readings: vec![
            Reading {
                offset_ms: 0,
                value_milli: 5_000,
            },
            Reading {
                offset_ms: 600_000,
                value_milli: -1_500,
            },
        ],
    };
    let recall_e = signed(
        chain,
        &c.producer,
        4,
        recall(&["GREEN-1"], RecallClass::Recall, "ochratoxin A"),
    );
    vec![
        signed(chain, &c.producer, 3, Body::ProduceV2(p)),
        signed(chain, &c.producer, 5, Body::DispatchV2(d)),
        signed(chain, &c.processor, 2, Body::ReceiveV2(r)),
        cosigned(
            signed(chain, &c.carrier, 2, Body::Handover(h)),
            &[&c.distributor],
        ),
        signed(chain, &c.carrier, 3, readings("S-2", vec![series])),
        signed(
            chain,
            &c.producer,
            6,
            recall_lift(recall_e.id(), &["GREEN-1"], "lab mixed up samples"),
        ),
        recall_e,
        signed(
            chain,
            &c.processor,
            3,
            correction(
                Hash32::digest(b"the wrong roasting"),
                Corrected::Lot(lot("ROASTED-1")),
                "4100 kg keyed for 410 kg",
            ),
        ),
        cosigned(
            signed(
                chain,
                &c.admins[0],
                7,
                Body::Governance(GovernanceEntry {
                    effective_height: 120,
                    change: GovernanceChange::RevokeKey {
                        public_key: c.carrier.pk,
                        compromised_since: Some(Compromise::Time(T0 - 3_600_000)),
                        replacement: Some(crypto::public_key(&key(90))),
                    },
                }),
            ),
            &[&c.admins[1]],
        ),
    ]
}

/// The name of a body's kind, telling the versions apart.
fn variant(b: &Body) -> &'static str {
    match b {
        Body::Produce(_) => "Produce",
        Body::Dispatch(_) => "Dispatch",
        Body::Receive(_) => "Receive",
        Body::Reject(_) => "Reject",
        Body::Payment(_) => "Payment",
        Body::Membership(_) => "Membership",
        Body::ProduceV2(_) => "ProduceV2",
        Body::DispatchV2(_) => "DispatchV2",
        Body::ReceiveV2(_) => "ReceiveV2",
        Body::Handover(_) => "Handover",
        Body::Readings(_) => "Readings",
        Body::Recall(_) => "Recall",
        Body::RecallLift(_) => "RecallLift",
        Body::Correction(_) => "Correction",
        Body::Governance(_) => "Governance",
        Body::SealedPayment(_) => "SealedPayment",
        Body::PaymentConfirmation(_) => "PaymentConfirmation",
    }
}

/// Every kind of body, by [`variant`].
const ALL_VARIANTS: [&str; 17] = [
    "Produce",
    "Dispatch",
    "Receive",
    "Reject",
    "Payment",
    "Membership",
    "ProduceV2",
    "DispatchV2",
    "ReceiveV2",
    "Handover",
    "Readings",
    "Recall",
    "RecallLift",
    "Correction",
    "Governance",
    "SealedPayment",
    "PaymentConfirmation",
];

/// The generator and the fixed entries reach every kind of body, so the
/// round trips and the byte changes above cover them all.
#[test]
fn generated_and_fixed_entries_cover_every_body_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut generated = std::collections::BTreeMap::new();
    for _ in 0..500 {
        let e = signed_entry().new_tree(&mut runner).unwrap().current();
        *generated.entry(variant(&e.entry.body)).or_insert(0usize) += 1;
    }
    for v in ALL_VARIANTS {
        assert!(
            generated.get(v).copied().unwrap_or(0) >= 10,
            "the generator rarely or never makes a {v} body: {generated:?}"
        );
    }
    let fixed: std::collections::BTreeSet<_> = fixed_entries()
        .iter()
        .map(|e| variant(&e.entry.body))
        .collect();
    assert_eq!(fixed, ALL_VARIANTS.into_iter().collect());
    // Each fixed entry is one the rules would take in shape, but for the
    // payment with its terms in the clear, which they refuse.
    for e in fixed_entries() {
        if let Body::Payment(_) = e.entry.body {
            assert!(matches!(
                waybill_core::rules::check_shape(&e),
                Err(waybill_core::rules::RuleError::PlainPayment)
            ));
            continue;
        }
        waybill_core::rules::check_shape(&e).unwrap_or_else(|err| {
            panic!(
                "{} fixed entry is out of shape: {err}",
                variant(&e.entry.body)
            )
        });
    }
}

#[test]
fn every_single_byte_change_fails_verification() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut checked = 0usize;
    let mut decoded_but_bad_signature = 0usize;
    for e in fixed_entries() {
        let bytes = e.canonical_bytes();
        assert_eq!(verifies(&bytes), Some(e.clone()));
        for i in 0..bytes.len() {
            let random = loop {
                let v = u8::try_from(rng.next_u32() & 0xff).unwrap();
                if v != bytes[i] {
                    break v;
                }
            };
            for new in [bytes[i] ^ 0x01, random] {
                let mut changed = bytes.clone();
                changed[i] = new;
                if let Ok(d) = SignedEntry::from_canonical_bytes(&changed) {
                    assert_ne!(d, e, "byte {i} changed but decoded to the same entry");
                    assert!(
                        d.verify_signatures().is_err(),
                        "{} entry: byte {i} changed from {:#04x} to {new:#04x} and it still verifies",
                        e.entry.body.kind(),
                        bytes[i]
                    );
                    decoded_but_bad_signature += 1;
                }
                checked += 1;
            }
        }
    }
    // Most changes still decode; the signatures are what catches them.
    assert!(checked > 2000, "{checked}");
    assert!(
        decoded_but_bad_signature > checked / 4,
        "{decoded_but_bad_signature} of {checked}"
    );
}

#[test]
fn encoded_parts_come_from_one_encoding() {
    // Every fixed entry kind, the last with two co-signatures, and with
    // none: the id and signed message must be exactly the slow ones.
    let mut entries = fixed_entries();
    assert!(entries.iter().any(|e| !e.cosignatures.is_empty()));
    let mut bare = entries[entries.len() - 1].clone();
    bare.cosignatures.clear();
    entries.push(bare);
    for e in &entries {
        let encoded = e.encoded();
        assert_eq!(encoded.id, e.id(), "{}", e.entry.body.kind());
        assert_eq!(
            encoded.message,
            e.entry.canonical_bytes(),
            "{}",
            e.entry.body.kind()
        );
        assert_eq!(
            encoded.len,
            e.canonical_bytes().len(),
            "{}",
            e.entry.body.kind()
        );
        // The same parts from the entry encoded once, as submissions are.
        let whole = waybill_core::entry::EncodedEntry::new(e.clone());
        let kind = e.entry.body.kind();
        assert_eq!(whole.bytes(), e.canonical_bytes(), "{kind}");
        assert_eq!(whole.message(), encoded.message, "{kind}");
        assert_eq!(whole.id(), encoded.id, "{kind}");
        assert_eq!(whole.len(), encoded.len, "{kind}");
        assert_eq!(whole.entry(), e, "{kind}");
        let mut batch = waybill_core::crypto::BatchVerifier::new();
        whole.queue_signatures(&mut batch).unwrap();
        assert!(batch.verify(rand_core::OsRng).is_ok(), "{kind}");
    }
    // Batch verification over those messages gives the same verdicts.
    let prepared: Vec<_> = entries.iter().map(|e| e.encoded().message).collect();
    let refs: Vec<_> = entries
        .iter()
        .zip(&prepared)
        .map(|(e, m)| (e, m.as_slice()))
        .collect();
    assert_eq!(
        waybill_core::entry::verify_batch_over(&refs, rand_core::OsRng),
        Ok(())
    );
    let mut forged = entries.clone();
    forged[1].signature.0[7] ^= 1;
    let refs: Vec<_> = forged
        .iter()
        .zip(&prepared)
        .map(|(e, m)| (e, m.as_slice()))
        .collect();
    assert!(matches!(
        waybill_core::entry::verify_batch_over(&refs, rand_core::OsRng),
        Err((1, _))
    ));
}

#[test]
fn a_changed_cosignature_fails() {
    let e = fixed_entries().pop().unwrap();
    assert_eq!(e.cosignatures.len(), 2);
    let mut bad = e.clone();
    bad.cosignatures[1].signature.0[63] ^= 0x10;
    assert!(verifies(&bad.canonical_bytes()).is_none());
    // Swapping the two co-signatures breaks the required order.
    let mut swapped = e.clone();
    swapped.cosignatures.swap(0, 1);
    assert!(swapped.verify_signatures().is_err());
    // Dropping one still verifies (and then counts one admin less).
    let mut fewer = e;
    fewer.cosignatures.pop();
    assert!(fewer.verify_signatures().is_ok());
}

// ---------------------------------------------------------------------------
// Malformed input

#[test]
fn trailing_bytes_are_rejected() {
    for e in fixed_entries() {
        let mut bytes = e.canonical_bytes();
        bytes.push(0);
        let err = SignedEntry::from_canonical_bytes(&bytes).unwrap_err();
        assert!(
            matches!(err, CodecError::TrailingBytes { extra: 1, .. }),
            "{err:?}"
        );
        assert_mentions(&err, &["trailing"]);
        bytes.extend_from_slice(&e.canonical_bytes());
        assert!(matches!(
            SignedEntry::from_canonical_bytes(&bytes),
            Err(CodecError::TrailingBytes { .. })
        ));
    }
}

#[test]
fn every_truncation_is_rejected() {
    for e in fixed_entries() {
        let bytes = e.canonical_bytes();
        for n in 0..bytes.len() {
            let err = SignedEntry::from_canonical_bytes(&bytes[..n]).unwrap_err();
            assert!(matches!(err, CodecError::Malformed { .. }), "{n}: {err:?}");
            assert_mentions(&err, &["entry"]);
        }
    }
}

#[test]
fn oversize_input_is_rejected_before_decoding() {
    let bytes = vec![0u8; MAX_ENTRY_BYTES + 1];
    let err = SignedEntry::from_canonical_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err, CodecError::TooLarge { len, limit, .. } if len == MAX_ENTRY_BYTES + 1 && limit == MAX_ENTRY_BYTES),
        "{err:?}"
    );
    assert_mentions(&err, &[&MAX_ENTRY_BYTES.to_string()]);

    // A real, validly signed entry that is too big.
    let c = Consortium::new();
    let mut p = produce_body("GREEN-1", "600");
    p.product.description = "ß".repeat(MAX_ENTRY_BYTES / 2);
    let e = signed(c.chain_id(), &c.producer, 1, Body::Produce(p));
    let bytes = e.canonical_bytes();
    assert!(bytes.len() > MAX_ENTRY_BYTES);
    assert!(matches!(
        SignedEntry::from_canonical_bytes(&bytes),
        Err(CodecError::TooLarge { .. })
    ));
    // Exactly at the limit is accepted.
    let mut p = produce_body("GREEN-1", "600");
    let base = signed(c.chain_id(), &c.producer, 1, Body::Produce(p.clone()))
        .canonical_bytes()
        .len();
    p.product
        .description
        .push_str(&"x".repeat(MAX_ENTRY_BYTES - base));
    let e = signed(c.chain_id(), &c.producer, 1, Body::Produce(p));
    assert_eq!(e.canonical_bytes().len(), MAX_ENTRY_BYTES);
    assert_eq!(
        SignedEntry::from_canonical_bytes(&e.canonical_bytes()).unwrap(),
        e
    );
}

#[test]
fn a_length_prefix_bomb_is_rejected() {
    let e = &fixed_entries()[3];
    let bytes = e.canonical_bytes();
    // The reject reason is the last field: a u64 length then the text.
    let reason = b"wet beans";
    let at = bytes.len() - 8 /* no cosignatures */ - 64 - reason.len() - 8;
    assert_eq!(&bytes[at + 8..at + 8 + reason.len()], reason);
    let mut bomb = bytes.clone();
    bomb[at..at + 8].copy_from_slice(&(u64::MAX / 2).to_be_bytes());
    assert!(matches!(
        SignedEntry::from_canonical_bytes(&bomb),
        Err(CodecError::Malformed { .. })
    ));
}

/// A value that decodes from a different spelling (`600.0` for `600`, a
/// GTIN-13 for its GTIN-14 form) must be refused, or two byte strings (two
/// entry ids) would carry one signed entry.
#[test]
fn non_canonical_spellings_are_rejected() {
    let c = Consortium::new();
    let e = signed(c.chain_id(), &c.producer, 1, produce("GREEN-1", "600"));
    let bytes = e.canonical_bytes();

    let respell = |from: &str, to: &str| -> Vec<u8> {
        let mut pat = (from.len() as u64).to_be_bytes().to_vec();
        pat.extend_from_slice(from.as_bytes());
        let at = bytes
            .windows(pat.len())
            .position(|w| w == pat.as_slice())
            .unwrap_or_else(|| panic!("{from} not found"));
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(&(to.len() as u64).to_be_bytes());
        out.extend_from_slice(to.as_bytes());
        out.extend_from_slice(&bytes[at + pat.len()..]);
        out
    };
    for (from, to) in [("600", "600.0"), ("600", "0600"), ("KGM", "kgm")] {
        let changed = respell(from, to);
        let err = SignedEntry::from_canonical_bytes(&changed).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::NotCanonical { .. } | CodecError::Malformed { .. }
            ),
            "{from} -> {to}: {err:?}"
        );
    }
    let err = SignedEntry::from_canonical_bytes(&respell("600", "600.000")).unwrap_err();
    assert!(matches!(err, CodecError::NotCanonical { .. }), "{err:?}");
    assert_mentions(&err, &["canonical"]);

    let mut p = produce_body("GREEN-1", "600");
    p.lot = LotId::batch(BRAND_GTIN.parse().unwrap(), "L1").unwrap();
    let e = signed(c.chain_id(), &c.brand, 1, Body::Produce(p));
    let bytes = e.canonical_bytes();
    let canonical = format!("(01){BRAND_GTIN}(10)L1");
    let mut pat = (canonical.len() as u64).to_be_bytes().to_vec();
    pat.extend_from_slice(canonical.as_bytes());
    let at = bytes
        .windows(pat.len())
        .position(|w| w == pat.as_slice())
        .unwrap();
    let other = format!("01/{BRAND_GTIN}/10/L1");
    let mut changed = bytes[..at].to_vec();
    changed.extend_from_slice(&(other.len() as u64).to_be_bytes());
    changed.extend_from_slice(other.as_bytes());
    changed.extend_from_slice(&bytes[at + pat.len()..]);
    assert!(matches!(
        SignedEntry::from_canonical_bytes(&changed),
        Err(CodecError::NotCanonical { .. })
    ));
}

#[test]
fn json_of_fixed_entries_round_trips() {
    for e in fixed_entries() {
        let json = serde_json::to_string_pretty(&e).unwrap();
        let back: SignedEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.id(), e.id());
    }
    // Unknown fields are refused, not ignored.
    let e = &fixed_entries()[2];
    let mut v: serde_json::Value = serde_json::to_value(e).unwrap();
    v["entry"]["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<SignedEntry>(v).is_err());
}

/// Decoding a block piece by piece, keeping each entry's bytes, must
/// accept and refuse exactly what decoding it whole does, and give each
/// entry's id, message and length as encoding it would.
#[test]
fn a_block_decoded_with_encodings_agrees_with_the_whole_decode() {
    use waybill_core::block::Block;
    use waybill_core::codec::MAX_BLOCK_BYTES;
    let c = Consortium::new();
    // The first kinds only: every truncation and every byte of the block
    // is decoded twice, which takes time quadratic in its size.
    let block = Block::seal(
        c.chain_id(),
        None,
        1_000,
        c.producer.pk,
        first_kinds_fixed_entries(),
    );
    let bytes = block.canonical_bytes();
    let decode = |b: &[u8]| Block::decode_with_encodings::<MAX_BLOCK_BYTES>(b);

    let (back, encoded) = decode(&bytes).unwrap();
    assert_eq!(back, block);
    let expected: Vec<_> = block.entries.iter().map(|e| e.encoded()).collect();
    assert_eq!(encoded, expected);
    let empty = Block::seal(c.chain_id(), None, 1_000, c.producer.pk, Vec::new());
    assert_eq!(
        decode(&empty.canonical_bytes()).unwrap(),
        (empty, Vec::new())
    );

    // Every truncation, trailing bytes, and single-byte changes across the
    // whole encoding: the same verdict and the same block as the whole
    // decode.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut cases: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    cases.push([bytes.as_slice(), &[0]].concat());
    for i in 0..bytes.len() {
        let mut changed = bytes.clone();
        changed[i] ^= 1 << (rng.next_u32() % 8);
        cases.push(changed);
    }
    let mut refused = 0;
    for case in &cases {
        let whole = Block::from_canonical_bytes(case);
        let pieces = decode(case);
        match (&whole, &pieces) {
            (Ok(w), Ok((p, enc))) => {
                assert_eq!(w, p);
                let expected: Vec<_> = w.entries.iter().map(|e| e.encoded()).collect();
                assert_eq!(enc, &expected);
            }
            (Err(_), Err(_)) => refused += 1,
            _ => panic!(
                "verdicts differ on {} bytes: whole {:?}, pieces {:?}",
                case.len(),
                whole.as_ref().err(),
                pieces.as_ref().err()
            ),
        }
    }
    assert!(refused > bytes.len(), "{refused} refused");

    // Oversize input is refused before decoding.
    assert!(matches!(
        Block::decode_with_encodings::<64>(&bytes),
        Err(CodecError::TooLarge { limit: 64, .. })
    ));
}

/// A block encoded once with its parts, and the same bytes decoded, give
/// exactly the block's canonical bytes and each entry's parts.
#[test]
fn block_bytes_from_encoding_and_decoding_agree_with_the_slow_parts() {
    use waybill_core::block::{Block, BlockBytes};
    use waybill_core::codec::MAX_BLOCK_BYTES;
    let c = Consortium::new();
    for entries in [fixed_entries(), Vec::new()] {
        let block = Block::seal(c.chain_id(), None, 1_000, c.producer.pk, entries);
        let expected: Vec<_> = block.entries.iter().map(|e| e.encoded()).collect();
        let encoded = BlockBytes::encode(block.clone());
        assert_eq!(encoded.bytes(), block.canonical_bytes());
        assert_eq!(encoded.entries(), expected);
        assert_eq!(encoded.block(), &block);
        let decoded = BlockBytes::decode::<MAX_BLOCK_BYTES>(block.canonical_bytes()).unwrap();
        assert_eq!(decoded.bytes(), encoded.bytes());
        assert_eq!(decoded.entries(), expected);
        let (back, bytes, parts) = decoded.into_parts();
        assert_eq!(
            (back, bytes, parts),
            (block.clone(), block.canonical_bytes(), expected)
        );
    }
    let bytes =
        Block::seal(c.chain_id(), None, 1_000, c.producer.pk, fixed_entries()).canonical_bytes();
    assert!(BlockBytes::decode::<MAX_BLOCK_BYTES>(bytes[..bytes.len() - 1].to_vec()).is_err());
}
