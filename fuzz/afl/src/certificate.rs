//! AFL++ target `certificate`: see `waybill_fuzz::certificate`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::certificate(data));
}
