//! AFL++ target `terms_json`: see `waybill_fuzz::terms_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::terms_json(data));
}
