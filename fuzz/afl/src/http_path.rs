//! AFL++ target `http_path`: see `waybill_fuzz::http_path`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::http_path(data));
}
