//! Offline writes ([`Builder::offline`](super::Builder::offline)): a replica's connections
//! commit locally, and a sync first pushes those commits' WAL frames to the primary (sync
//! protocol v2's `POST /sync/{g}/{start}/{end}`, as libSQL's offline clients do), then pulls.
//!
//! The frames to push are the local WAL's committed frames after the last one the replica
//! applied from the primary (or pushed): the *mark*, kept in the position file with the WAL's
//! salts. This holds only while the WAL keeps every unpushed frame, so an offline replica's
//! connections never checkpoint on their own (`wal_autocheckpoint=0`, no checkpoint on close),
//! and the replica checkpoints only during a sync, while its own write transaction keeps every
//! other writer out and no frame is unpushed. A WAL that restarts afterwards has new salts:
//! every frame in it is then local until the next apply moves the mark.

use std::fs;
use std::io;
use std::path::Path;

use super::{ErrorKind, FRAME_SIZE, ReplicationError, io_error};

/// The WAL file's header size.
const WAL_HEADER: usize = 32;

/// Local writes pushed in one request (4 MiB of frames).
pub(super) const PUSH_FRAMES: usize = 1024;

/// A WAL file's committed frames, as SQLite's recovery reads them (salts and checksums valid,
/// up to the last commit frame).
pub(super) struct WalScan {
    /// The WAL's salts (from its header).
    pub(super) salts: (u32, u32),
    /// The committed frames, whole (header and page), in order.
    pub(super) frames: Vec<u8>,
    /// The 1-based numbers of the commit frames.
    pub(super) commits: Vec<u32>,
}

impl WalScan {
    /// The number of committed frames.
    pub(super) fn len(&self) -> u32 {
        u32::try_from(self.frames.len() / FRAME_SIZE).unwrap_or(u32::MAX)
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// SQLite's WAL checksum of `bytes` (a multiple of 8), continuing from `s`.
fn checksum(big_endian: bool, bytes: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s0, mut s1) = s;
    for w in bytes.chunks_exact(8) {
        let (x0, x1) = if big_endian { (be32(&w[0..]), be32(&w[4..])) } else { (le32(&w[0..]), le32(&w[4..])) };
        s0 = s0.wrapping_add(x0).wrapping_add(s1);
        s1 = s1.wrapping_add(x1).wrapping_add(s0);
    }
    (s0, s1)
}

/// Reads the committed frames of the WAL at `path`; `None` if there is no WAL (or only an
/// empty or invalid header: no frame is committed).
pub(super) fn scan_wal(path: &Path) -> Result<Option<WalScan>, ReplicationError> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, &e)),
    };
    if data.len() < WAL_HEADER {
        return Ok(None);
    }
    let big_endian = match be32(&data[0..]) {
        0x377f_0682 => false,
        0x377f_0683 => true,
        _ => return Ok(None),
    };
    if be32(&data[8..]) as usize != FRAME_SIZE - 24 {
        return Err(ReplicationError::new(
            ErrorKind::Protocol,
            format!("{}: a replica's pages are 4096 bytes", path.display()),
        ));
    }
    let salts = (be32(&data[16..]), be32(&data[20..]));
    let mut sum = checksum(big_endian, &data[..24], (0, 0));
    if sum != (be32(&data[24..]), be32(&data[28..])) {
        return Ok(None);
    }
    let (mut n, mut committed, mut commits) = (0_u32, 0_usize, Vec::new());
    for f in data[WAL_HEADER..].chunks_exact(FRAME_SIZE) {
        if (be32(&f[8..]), be32(&f[12..])) != salts {
            break;
        }
        sum = checksum(big_endian, &f[..8], sum);
        sum = checksum(big_endian, &f[24..], sum);
        if sum != (be32(&f[16..]), be32(&f[20..])) {
            break;
        }
        n += 1;
        if be32(&f[4..]) != 0 {
            committed = n as usize;
            commits.push(n);
        }
    }
    let frames = data[WAL_HEADER..WAL_HEADER + committed * FRAME_SIZE].to_vec();
    Ok(Some(WalScan { salts, frames, commits }))
}

/// The number of committed frames of `after` that come before the first commit made after
/// `before` was scanned, that commit included: the mark once a commit of ours that began
/// after `before` has ended (later commits are someone else's). `None` if no commit followed.
pub(super) fn mark_after(before: Option<&WalScan>, after: &WalScan) -> Option<u32> {
    let from = match before {
        Some(b) if b.salts == after.salts => b.len(),
        _ => 0,
    };
    after.commits.iter().copied().find(|&c| c > from)
}

/// The frames to push, as the primary takes them and writes them: for each commit (a run of
/// frames ending in one with a commit size), the newest image of each page it wrote, in page
/// order, no page past the commit's size, the commit size on the last frame. A large local
/// transaction writes its WAL frames in no order (the page cache spills), and the primary
/// compares a push sent again frame by frame with what it wrote. Salts and checksums, the
/// local WAL's, are zeroed: the primary writes its own.
pub(super) fn commit_groups(frames: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(frames.len());
    let mut group: std::collections::BTreeMap<u32, &[u8]> = std::collections::BTreeMap::new();
    for f in frames.chunks_exact(FRAME_SIZE) {
        group.insert(be32(&f[0..]), &f[24..]);
        let size = be32(&f[4..]);
        if size == 0 {
            continue;
        }
        group.retain(|&pgno, _| pgno <= size);
        let n = group.len();
        for (i, (pgno, page)) in std::mem::take(&mut group).into_iter().enumerate() {
            body.extend_from_slice(&pgno.to_be_bytes());
            body.extend_from_slice(&(if i + 1 == n { size } else { 0 }).to_be_bytes());
            body.extend_from_slice(&[0; 16]);
            body.extend_from_slice(page);
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Connection;

    #[test]
    fn the_scan_reads_what_sqlite_committed_and_stops_at_a_torn_frame() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("w.db");
        let conn = Connection::open(&db).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x); \
             INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
        )
        .expect("writes");
        let wal = dir.path().join("w.db-wal");
        let scan = scan_wal(&wal).expect("scan").expect("a WAL");
        assert_eq!(scan.commits.len(), 3, "three commits");
        assert_eq!(*scan.commits.last().expect("a commit"), scan.len());
        let before = scan;
        conn.execute_batch("INSERT INTO t VALUES (3)").expect("insert");
        let after = scan_wal(&wal).expect("scan").expect("a WAL");
        assert_eq!(mark_after(Some(&before), &after), Some(after.len()));
        // A torn last frame (its page changed after the checksum) is not committed.
        let mut bytes = fs::read(&wal).expect("read");
        let last = WAL_HEADER + (after.len() as usize - 1) * FRAME_SIZE;
        bytes[last + 100] ^= 0xff;
        fs::write(&wal, &bytes).expect("write");
        let torn = scan_wal(&wal).expect("scan").expect("a WAL");
        assert_eq!(torn.len(), before.len());
    }

    #[test]
    fn a_commit_is_pushed_in_page_order_with_each_page_once() {
        let frame = |pgno: u32, size: u32, fill: u8| {
            let mut f = vec![fill; FRAME_SIZE];
            f[0..4].copy_from_slice(&pgno.to_be_bytes());
            f[4..8].copy_from_slice(&size.to_be_bytes());
            f
        };
        // One commit written 5, 2, 5 again, 9 (past the commit's size of 6), then 1 with the
        // size; a second commit of page 3.
        let wal =
            [frame(5, 0, 1), frame(2, 0, 2), frame(5, 0, 3), frame(9, 0, 4), frame(1, 6, 5), frame(3, 7, 6)].concat();
        let body = commit_groups(&wal);
        let got: Vec<(u32, u32, u8)> =
            body.chunks_exact(FRAME_SIZE).map(|f| (be32(&f[0..]), be32(&f[4..]), f[100])).collect();
        assert_eq!(got, [(1, 0, 5), (2, 0, 2), (5, 6, 3), (3, 7, 6)]);
        assert!(body.chunks_exact(FRAME_SIZE).all(|f| f[8..24].iter().all(|&b| b == 0)));
    }
}
