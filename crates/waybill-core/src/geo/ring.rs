//! The plane geometry a polygon's ring is checked with: exact, in
//! integers on the micro-degrees.

use crate::entry::GeoPoint;

/// A position as plane coordinates: longitude, latitude.
type Xy = (i64, i64);

pub(super) fn xy(p: &GeoPoint) -> Xy {
    (i64::from(p.lon_micro), i64::from(p.lat_micro))
}

/// Twice the signed area of the triangle `a b c`: positive when it turns
/// left, negative when it turns right, zero when the three are on a line.
pub(super) fn orient(a: Xy, b: Xy, c: Xy) -> i128 {
    let (abx, aby) = (i128::from(b.0 - a.0), i128::from(b.1 - a.1));
    let (acx, acy) = (i128::from(c.0 - a.0), i128::from(c.1 - a.1));
    abx * acy - aby * acx
}

/// Whether `c`, on the line through `a` and `b`, lies on the segment.
fn on_segment(a: Xy, b: Xy, c: Xy) -> bool {
    a.0.min(b.0) <= c.0 && c.0 <= a.0.max(b.0) && a.1.min(b.1) <= c.1 && c.1 <= a.1.max(b.1)
}

/// Whether the closed segments `p1 p2` and `q1 q2` have any point in
/// common.
fn segments_meet((p1, p2): (Xy, Xy), (q1, q2): (Xy, Xy)) -> bool {
    // Boxes apart: the segments are too.
    if p1.0.max(p2.0) < q1.0.min(q2.0)
        || q1.0.max(q2.0) < p1.0.min(p2.0)
        || p1.1.max(p2.1) < q1.1.min(q2.1)
        || q1.1.max(q2.1) < p1.1.min(p2.1)
    {
        return false;
    }
    let d1 = orient(q1, q2, p1).signum();
    let d2 = orient(q1, q2, p2).signum();
    let d3 = orient(p1, p2, q1).signum();
    let d4 = orient(p1, p2, q2).signum();
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    (d1 == 0 && on_segment(q1, q2, p1))
        || (d2 == 0 && on_segment(q1, q2, p2))
        || (d3 == 0 && on_segment(p1, p2, q1))
        || (d4 == 0 && on_segment(p1, p2, q2))
}

/// Whether two edges that share the corner `v`, coming from `a` and
/// going to `c`, overlap beyond it (the ring folds back on itself).
fn folds_back(a: Xy, v: Xy, c: Xy) -> bool {
    let dot = i128::from(a.0 - v.0) * i128::from(c.0 - v.0)
        + i128::from(a.1 - v.1) * i128::from(c.1 - v.1);
    orient(a, v, c) == 0 && dot > 0
}

/// The first pair of edges `(i, j)`, `i < j`, that meet where they
/// should not, in a closed ring of at least four positions with no
/// position repeated in a row.
pub(super) fn self_crossing(ring: &[GeoPoint]) -> Option<(usize, usize)> {
    let edges: Vec<(Xy, Xy)> = ring
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some((xy(a), xy(b))),
            _ => None,
        })
        .collect();
    let last = edges.len().checked_sub(1)?;
    for (i, &e) in edges.iter().enumerate() {
        for (j, &f) in edges.iter().enumerate().skip(i + 1) {
            let meets = if j == i + 1 {
                // `e` ends where `f` starts.
                folds_back(e.0, e.1, f.1)
            } else if i == 0 && j == last {
                // `f` ends where `e` starts: the ring's closing corner.
                folds_back(f.0, e.0, e.1)
            } else {
                segments_meet(e, f)
            };
            if meets {
                return Some((i, j));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments() {
        let s = |a: (i64, i64), b: (i64, i64)| (a, b);
        // Crossing, touching at an end, touching mid-edge, collinear
        // overlapping, collinear apart, parallel, apart.
        assert!(segments_meet(s((0, 0), (2, 2)), s((0, 2), (2, 0))));
        assert!(segments_meet(s((0, 0), (2, 2)), s((2, 2), (3, 0))));
        assert!(segments_meet(s((0, 0), (2, 0)), s((1, 0), (1, 5))));
        assert!(segments_meet(s((0, 0), (2, 0)), s((1, 0), (3, 0))));
        assert!(!segments_meet(s((0, 0), (1, 0)), s((2, 0), (3, 0))));
        assert!(!segments_meet(s((0, 0), (2, 0)), s((0, 1), (2, 1))));
        assert!(!segments_meet(s((0, 0), (1, 1)), s((2, 0), (3, -5))));
        assert!(folds_back((0, 0), (2, 0), (1, 0)));
        assert!(!folds_back((0, 0), (2, 0), (3, 0)));
        assert!(!folds_back((0, 0), (2, 0), (2, 1)));
    }
}
