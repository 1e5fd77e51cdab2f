//! UpdateShardCount's plan: the service reshards by splitting and merging
//! shards, so every new shard has one parent (a split) or two adjacent ones
//! (a merge) covering exactly its hash range, and a consumer that reads a
//! shard after its parents keeps each key's records in order.
//!
//! Scaling up splits every open shard in two, then merges adjacent shards
//! back down to the target; scaling down merges adjacent shards. Each merge
//! takes the adjacent pair with the smallest range (the lowest first), so
//! the ranges stay as even as merges allow. The shard counts are the
//! service's: 2 → 4 shards makes 6 in all, 4 → 5 makes 15, 10 → 13 makes
//! 37, 4 → 2 makes 6, 5 → 3 makes 7 (recorded against it in moto's
//! `test_update_shard_count`).

/// A new shard: its hash range, its parent and adjacent parent (indices of
/// the stream's shards).
pub(crate) type Child = (u128, u128, Option<u32>, Option<u32>);

/// One resharding step: the shards it closes and those it opens, in the
/// order they are appended to the stream's shards.
#[derive(Debug, PartialEq)]
pub(crate) struct Step {
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<Child>,
}

/// An open shard: its index and hash range.
type Open = (usize, u128, u128);

/// The steps taking the `open` shards (tiling the hash space) to `target`
/// shards, new shards numbered from `next`.
pub(crate) fn plan(open: &[Open], target: usize, next: usize) -> Vec<Step> {
    let mut open: Vec<Open> = open.to_vec();
    open.sort_by_key(|&(_, start, _)| start);
    let mut next = next;
    let mut steps = Vec::new();
    if target > open.len() {
        // Every open shard split in two (a shard of one hash key stays).
        let mut step = Step {
            parents: Vec::new(),
            children: Vec::new(),
        };
        let mut halves = Vec::new();
        for &(i, start, end) in &open {
            if start == end {
                halves.push((i, start, end));
                continue;
            }
            let middle = start + (end - start) / 2 + 1;
            step.parents.push(i);
            step.children
                .push((start, middle - 1, Some(i as u32), None));
            step.children.push((middle, end, Some(i as u32), None));
            halves.push((next, start, middle - 1));
            halves.push((next + 1, middle, end));
            next += 2;
        }
        steps.push(step);
        open = halves;
    }
    while open.len() > target {
        let k = (0..open.len() - 1)
            .min_by_key(|&k| open[k + 1].2 - open[k].1)
            .unwrap_or(0);
        let ((i, start, _), (j, _, end)) = (open[k], open[k + 1]);
        steps.push(Step {
            parents: vec![i, j],
            children: vec![(start, end, Some(i as u32), Some(j as u32))],
        });
        open.splice(k..k + 2, [(next, start, end)]);
        next += 1;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::super::names::uniform_ranges;
    use super::*;

    fn stream(n: usize) -> Vec<Open> {
        uniform_ranges(n as u32)
            .into_iter()
            .enumerate()
            .map(|(i, (s, e))| (i, s, e))
            .collect()
    }

    /// Shards in all after scaling a stream of `from` uniform shards.
    fn total(from: usize, to: usize) -> usize {
        let steps = plan(&stream(from), to, from);
        from + steps.iter().map(|s| s.children.len()).sum::<usize>()
    }

    #[test]
    fn shard_counts_are_the_services() {
        // (from, to, shards in all), recorded against the service.
        for (from, to, all) in [(2, 4, 6), (4, 5, 15), (10, 13, 37), (4, 2, 6), (5, 3, 7)] {
            assert_eq!(total(from, to), all, "{from} -> {to}");
        }
    }

    #[test]
    fn every_child_covers_exactly_its_parents_and_the_open_shards_tile() {
        for (from, to) in [
            (1, 2),
            (2, 3),
            (3, 2),
            (4, 5),
            (5, 3),
            (7, 4),
            (10, 13),
            (6, 12),
        ] {
            let mut shards: Vec<(u128, u128, bool)> = stream(from)
                .into_iter()
                .map(|(_, s, e)| (s, e, true))
                .collect();
            for step in plan(&stream(from), to, from) {
                for &p in &step.parents {
                    assert!(shards[p].2, "{from} -> {to}: parent {p} closed already");
                    shards[p].2 = false;
                }
                for &(start, end, parent, adjacent) in &step.children {
                    let p = shards[parent.unwrap() as usize];
                    match adjacent {
                        // A merge covers its two adjacent parents exactly.
                        Some(a) => {
                            let q = shards[a as usize];
                            assert_eq!((start, end), (p.0, q.1), "{from} -> {to}");
                            assert_eq!(p.1 + 1, q.0, "{from} -> {to}");
                        }
                        // A split's child lies within its parent.
                        None => assert!(p.0 <= start && end <= p.1, "{from} -> {to}"),
                    }
                    shards.push((start, end, true));
                }
            }
            let mut open: Vec<(u128, u128)> =
                shards.iter().filter(|s| s.2).map(|s| (s.0, s.1)).collect();
            open.sort();
            assert_eq!(open.len(), to, "{from} -> {to}");
            assert_eq!(open[0].0, 0);
            assert_eq!(open[to - 1].1, u128::MAX);
            assert!(open.windows(2).all(|w| w[0].1 + 1 == w[1].0));
            // Ranges as even as merges allow: at most twice the smallest.
            let sizes: Vec<u128> = open.iter().map(|(s, e)| e - s).collect();
            let (least, most) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
            assert!(*most / 2 <= *least + 1, "{from} -> {to}: {sizes:?}");
        }
    }
}
