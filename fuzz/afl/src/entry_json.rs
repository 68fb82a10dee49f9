//! AFL++ target `entry_json`: see `waybill_fuzz::entry_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::entry_json(data));
}
