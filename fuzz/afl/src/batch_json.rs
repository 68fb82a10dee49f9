//! AFL++ target `batch_json`: see `waybill_fuzz::batch_json`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::batch_json(data));
}
