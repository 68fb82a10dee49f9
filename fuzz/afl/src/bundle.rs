//! AFL++ target `bundle`: see `waybill_fuzz::bundle`.

fn main() {
    afl::fuzz!(|data: &[u8]| waybill_fuzz::bundle(data));
}
