//! AFL++ target `key_file`: see `waybill_fuzz::key_file`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::key_file(data));
}
