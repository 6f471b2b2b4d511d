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

use std::io;
use std::path::Path;

use super::{ErrorKind, FRAME_SIZE, ReplicationError, io_error};
use crate::wal::{WAL_HEADER, WalScanner, frame_header, read_frames};

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

/// Reads the committed frames of the WAL at `path` ([`crate::wal`]); `None` if there is no WAL
/// (or only an empty or invalid header: no frame is committed). Only the replica's own
/// checkpoint, under its write lock, restarts an offline replica's WAL, so the frames read
/// after the scan are the ones it counted.
pub(super) fn scan_wal(path: &Path) -> Result<Option<WalScan>, ReplicationError> {
    let io_err = |e: &io::Error| {
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::Other {
            ReplicationError::new(ErrorKind::Protocol, format!("{}: {e}", path.display()))
        } else {
            io_error(path, e)
        }
    };
    let mut scanner = WalScanner::default();
    let committed = scanner.scan(path).map_err(|e| io_err(&e))?;
    let Some(salts) = scanner.salts() else { return Ok(None) };
    let frames = if committed == 0 {
        Vec::new()
    } else {
        read_frames(path, WAL_HEADER as u64, 1, committed + 1).map_err(|e| io_err(&e))?
    };
    let commits = (1..)
        .zip(frames.chunks_exact(FRAME_SIZE))
        .filter(|(_, f)| frame_header(f).commit_size != 0)
        .map(|(n, _)| n)
        .collect();
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
        let header = frame_header(f);
        group.insert(header.pgno, &f[24..]);
        let size = header.commit_size;
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
    use std::fs;

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
        let got: Vec<(u32, u32, u8)> = body
            .chunks_exact(FRAME_SIZE)
            .map(|f| (frame_header(f).pgno, frame_header(f).commit_size, f[100]))
            .collect();
        assert_eq!(got, [(1, 0, 5), (2, 0, 2), (5, 6, 3), (3, 7, 6)]);
        assert!(body.chunks_exact(FRAME_SIZE).all(|f| f[8..24].iter().all(|&b| b == 0)));
    }
}
