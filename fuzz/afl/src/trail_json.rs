//! AFL++ target `trail_json`: see `waybill_fuzz::trail_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::trail_json(data));
}
