//! Recall of a batch-built graph against a row-by-row one on tightly clustered data (the
//! filtered-search test's table: `rows` rows of 12 dimensions in `clusters` clusters, cosine,
//! 300 queries near the cluster centres), at the index's defaults. Prints recall@10 and how
//! many queries found fewer than 5 of their 10 nearest (a search that could not leave the
//! wrong cluster).
//!
//! `cargo run --release -p edgelite-diskann --example clusters -- [rows 4000] [clusters 20] [seed 13]`

use edgelite_diskann::{DiskAnn, MemStorage, Metadata};
use edgelite_vector::Vector;

struct Lcg(u64);
impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0
    }
    fn next(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let (mut d, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        d += x * y;
        na += x * x;
        nb += y * y;
    }
    1.0 - d / (na.sqrt() * nb.sqrt())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(4000), |s| s.parse())?;
    let clusters: usize = args.get(2).map_or(Ok(20), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(13), |s| s.parse())?;
    let dims = 12;
    let mut rng = Lcg(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dims).map(|_| rng.next()).collect()).collect();
    let mut rows = Vec::new();
    for id in 1..=n as i64 {
        let c = (rng.next_u64() % clusters as u64) as usize;
        let v: Vec<f32> = centres[c].iter().map(|x| x + 0.15 * rng.next()).collect();
        rows.push((id, v));
    }
    let queries: Vec<Vec<f32>> = (0..300)
        .map(|_| {
            let c = (rng.next_u64() % clusters as u64) as usize;
            centres[c].iter().map(|x| x + 0.2 * rng.next()).collect()
        })
        .collect();
    let (_, config) = Metadata::create_edgelite(&format!("F32_BLOB({dims})"), &[])?;
    let graph = DiskAnn::new(config)?;
    let vecs: Vec<Vector> = rows.iter().map(|(_, v)| Vector::from_f32(v)).collect::<Result<_, _>>()?;
    let refs: Vec<(i64, _)> = rows.iter().zip(&vecs).map(|((id, _), v)| (*id, v.as_ref())).collect();
    let mut batch = MemStorage::new();
    graph.build(&mut batch, &refs)?;
    let mut single = MemStorage::new();
    for &(id, v) in &refs {
        graph.insert(&mut single, id, v)?;
    }
    for (name, store) in [("batch", &mut batch), ("single", &mut single)] {
        let (mut hits, mut bad) = (0, 0);
        for q in &queries {
            let mut truth: Vec<(f32, i64)> = rows.iter().map(|(id, v)| (cos(q, v), *id)).collect();
            truth.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let truth: Vec<i64> = truth[..10].iter().map(|t| t.1).collect();
            let qv = Vector::from_f32(q)?;
            let got = graph.search(store, qv.as_ref(), 10)?;
            let h = got.iter().filter(|g| truth.contains(&g.id)).count();
            hits += h;
            if h < 5 {
                bad += 1;
            }
        }
        println!("{name}: recall {:.4}, queries under 5/10: {bad}", hits as f64 / 3000.0);
    }
    Ok(())
}
