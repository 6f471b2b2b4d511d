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

/// The committed prefix of a WAL file, as SQLite's recovery finds it (salts and checksums
/// valid, up to the last commit frame).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WalEnd {
    /// The WAL's salts (from its header).
    pub(super) salts: (u32, u32),
    /// The number of committed frames.
    pub(super) committed: u32,
}

fn wal_error(path: &Path, e: &io::Error) -> ReplicationError {
    if e.kind() == io::ErrorKind::Other {
        // the scanner's own refusal (a page size other than 4096)
        ReplicationError::new(ErrorKind::Protocol, format!("{}: {e}", path.display()))
    } else {
        io_error(path, e)
    }
}

/// The committed prefix of the WAL at `path`, read with `scanner` ([`crate::wal`]), which
/// checks only the frames after the ones it has already counted (the scan runs before and
/// after every batch a sync applies). `None` if there is no WAL, or no valid header.
pub(super) fn wal_end(scanner: &mut WalScanner, path: &Path) -> Result<Option<WalEnd>, ReplicationError> {
    let committed = scanner.scan(path).map_err(|e| wal_error(path, &e))?;
    Ok(scanner.salts().map(|salts| WalEnd { salts, committed }))
}

/// The number of the first commit frame after frame `from` (up to `upto`, the committed end):
/// once a commit of ours that began when the WAL ended at `from` has ended, the mark (later
/// commits are someone else's). Reads only those frames' headers.
pub(super) fn first_commit_after(path: &Path, from: u32, upto: u32) -> Result<Option<u32>, ReplicationError> {
    for n in from + 1..=upto {
        let f = read_frames(path, WAL_HEADER as u64, n, n + 1).map_err(|e| wal_error(path, &e))?;
        if frame_header(&f).commit_size != 0 {
            return Ok(Some(n));
        }
    }
    Ok(None)
}

/// Frames `(from, to]` of the WAL at `path`, whole.
pub(super) fn frames(path: &Path, from: u32, to: u32) -> Result<Vec<u8>, ReplicationError> {
    read_frames(path, WAL_HEADER as u64, from + 1, to + 1).map_err(|e| wal_error(path, &e))
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
        let mut scanner = WalScanner::default();
        let before = wal_end(&mut scanner, &wal).expect("scan").expect("a WAL");
        assert!(before.committed >= 3, "three commits: {before:?}");
        conn.execute_batch("INSERT INTO t VALUES (3)").expect("insert");
        let after = wal_end(&mut scanner, &wal).expect("scan").expect("a WAL");
        assert_eq!(after.salts, before.salts);
        assert_eq!(first_commit_after(&wal, before.committed, after.committed).expect("read"), Some(after.committed));
        assert_eq!(first_commit_after(&wal, after.committed, after.committed).expect("read"), None);
        assert_eq!(frames(&wal, before.committed, after.committed).expect("read").len() % FRAME_SIZE, 0);
        // A torn last frame (its page changed after the checksum) is not committed.
        let mut bytes = fs::read(&wal).expect("read");
        let last = WAL_HEADER + (after.committed as usize - 1) * FRAME_SIZE;
        bytes[last + 100] ^= 0xff;
        fs::write(&wal, &bytes).expect("write");
        let torn = wal_end(&mut WalScanner::default(), &wal).expect("scan").expect("a WAL");
        assert_eq!(torn.committed, before.committed);
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
