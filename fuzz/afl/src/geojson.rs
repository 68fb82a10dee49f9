//! AFL++ target `geojson`: see `waybill_fuzz::geojson`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::geojson(data));
}
