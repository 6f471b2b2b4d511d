//! Reading an SQLite WAL file: which frames are committed, and their bytes (feature
//! `replication`). `edgelite-server` reads a primary's WAL with it to serve and back up frames;
//! an offline embedded replica reads its own to find the commits it has not pushed.
//!
//! The committed frame count is found as SQLite's own recovery finds it: frames are valid while
//! their salts match the header and their cumulative checksums chain; the last valid frame with
//! a non-zero "database size after commit" ends the committed prefix. Frames after it belong to
//! a transaction in progress (or a rolled-back one) and are never served. The scan is
//! incremental: it resumes after the last committed frame.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes of the WAL file header.
pub const WAL_HEADER: usize = 32;
/// Bytes of a frame header.
pub const FRAME_HEADER: usize = 24;
/// The only page size a replicated database may have.
pub const PAGE_SIZE: usize = 4096;
/// Bytes of a frame (header and page).
pub const FRAME_SIZE: usize = FRAME_HEADER + PAGE_SIZE;

const MAGIC_LE: u32 = 0x377f_0682;
const MAGIC_BE: u32 = 0x377f_0683;

fn be32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(w)
}

/// SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from `s`.
fn checksum(big_endian: bool, data: &[u8], s: (u32, u32)) -> (u32, u32) {
    let (mut s1, mut s2) = s;
    for pair in data.chunks_exact(8) {
        let (x0, x1) = if big_endian {
            (be32(pair, 0), be32(pair, 4))
        } else {
            let mut a = [0u8; 4];
            let mut b = [0u8; 4];
            a.copy_from_slice(&pair[..4]);
            b.copy_from_slice(&pair[4..]);
            (u32::from_le_bytes(a), u32::from_le_bytes(b))
        };
        s1 = s1.wrapping_add(x0).wrapping_add(s2);
        s2 = s2.wrapping_add(x1).wrapping_add(s1);
    }
    (s1, s2)
}

/// The parsed header of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The page number.
    pub pgno: u32,
    /// The database size in pages after this commit; 0 for a frame that does not commit.
    pub commit_size: u32,
}

/// Parses a frame's header (the frame must be `FRAME_SIZE` bytes).
#[must_use]
pub fn frame_header(frame: &[u8]) -> FrameHeader {
    FrameHeader { pgno: be32(frame, 0), commit_size: be32(frame, 4) }
}

/// Incremental knowledge of a WAL file's committed prefix.
#[derive(Debug, Default, Clone)]
pub struct WalScanner {
    /// Salts of the header the state belongs to.
    salts: Option<(u32, u32)>,
    /// Frames committed.
    committed: u32,
    /// The checksum after the last committed frame.
    cksum: (u32, u32),
    /// The WAL was restarted (new salts) under a scanner that had seen its earlier header.
    restarted: bool,
}

impl WalScanner {
    /// Forgets everything (the WAL was truncated).
    pub fn reset(&mut self) {
        *self = WalScanner::default();
    }

    /// The salts of the WAL header the committed frames belong to.
    #[must_use]
    pub fn salts(&self) -> Option<(u32, u32)> {
        self.salts
    }

    /// Whether SQLite restarted the WAL (a new header, frames from 1 again) since the last call:
    /// the frames counted before are gone from the file.
    pub fn take_restarted(&mut self) -> bool {
        std::mem::take(&mut self.restarted)
    }

    /// The committed frame count seen by the last scan.
    #[must_use]
    pub fn committed(&self) -> u32 {
        self.committed
    }

    /// Re-reads the WAL from the last committed frame on, and returns the committed frame count.
    ///
    /// # Errors
    ///
    /// I/O errors other than a missing file; a page size other than 4096.
    pub fn scan(&mut self, path: &Path) -> io::Result<u32> {
        match File::open(path) {
            Ok(mut f) => self.scan_file(&mut f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.reset();
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// [`WalScanner::scan`] on an open WAL file (a reader that goes on to read frames opens it
    /// once, and so reads the very file it counted).
    ///
    /// # Errors
    ///
    /// I/O errors; a page size other than 4096.
    pub fn scan_file(&mut self, file: &mut File) -> io::Result<u32> {
        let len = file.metadata()?.len();
        let mut header = [0u8; WAL_HEADER];
        if len < WAL_HEADER as u64 || file.read_exact(&mut header).is_err() {
            self.reset();
            return Ok(0);
        }
        let magic = be32(&header, 0);
        if magic != MAGIC_LE && magic != MAGIC_BE {
            self.reset();
            return Ok(0);
        }
        let big_endian = magic == MAGIC_BE;
        let page_size = be32(&header, 8) as usize;
        if page_size != PAGE_SIZE {
            return Err(io::Error::other(format!("WAL page size {page_size}, replication requires {PAGE_SIZE}")));
        }
        let salts = (be32(&header, 16), be32(&header, 20));
        let header_ck = checksum(big_endian, &header[..24], (0, 0));
        if header_ck != (be32(&header, 24), be32(&header, 28)) {
            self.reset();
            return Ok(0);
        }
        if self.salts != Some(salts) {
            // A new WAL (first scan, or SQLite restarted the log): start over.
            let restarted = self.restarted || self.salts.is_some();
            *self = WalScanner { salts: Some(salts), committed: 0, cksum: header_ck, restarted };
        }
        let mut running = self.cksum;
        let mut frame_no = self.committed;
        file.seek(SeekFrom::Start(frame_offset(frame_no + 1)))?;
        let mut reader = io::BufReader::with_capacity(FRAME_SIZE * 16, &mut *file);
        let mut frame = vec![0u8; FRAME_SIZE];
        loop {
            if reader.read_exact(&mut frame).is_err() {
                break;
            }
            if (be32(&frame, 8), be32(&frame, 12)) != salts {
                break;
            }
            let c = checksum(big_endian, &frame[..8], running);
            let c = checksum(big_endian, &frame[FRAME_HEADER..], c);
            if c != (be32(&frame, 16), be32(&frame, 20)) {
                break;
            }
            running = c;
            frame_no += 1;
            if be32(&frame, 4) != 0 {
                self.committed = frame_no;
                self.cksum = running;
            }
        }
        Ok(self.committed)
    }
}

/// Where frame `n` (1-based) starts in a WAL file.
#[must_use]
pub fn frame_offset(n: u32) -> u64 {
    WAL_HEADER as u64 + u64::from(n.saturating_sub(1)) * FRAME_SIZE as u64
}

/// The salts a frame carries (bytes 8..16 of its header).
#[must_use]
pub fn frame_salts(frame: &[u8]) -> (u32, u32) {
    (be32(frame, 8), be32(frame, 12))
}

/// Reads frames `[start, end)` (1-based) from a file holding frames from byte `base` on.
///
/// # Errors
///
/// I/O errors (a short file included).
pub fn read_frames(path: &Path, base: u64, start: u32, end: u32) -> io::Result<Vec<u8>> {
    read_frames_from(&mut File::open(path)?, base, start, end)
}

/// [`read_frames`] from an open file.
///
/// # Errors
///
/// I/O errors (a short file included).
pub fn read_frames_from(file: &mut File, base: u64, start: u32, end: u32) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(base + u64::from(start - 1) * FRAME_SIZE as u64))?;
    let mut buf = vec![0u8; (end - start) as usize * FRAME_SIZE];
    file.read_exact(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_counts_committed_frames_of_a_real_wal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let conn = crate::Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
            .expect("setup");
        let wal = dir.path().join("db-wal");
        let mut s = WalScanner::default();
        assert_eq!(s.scan(&wal).expect("scan"), 0);
        conn.execute_batch("CREATE TABLE t(x)").expect("create");
        let after_create = s.scan(&wal).expect("scan");
        assert!(after_create >= 1);
        conn.execute_batch("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); COMMIT;").expect("insert");
        let after_insert = s.scan(&wal).expect("scan");
        assert!(after_insert > after_create);
        // A fresh scanner agrees with the incremental one.
        assert_eq!(WalScanner::default().scan(&wal).expect("scan"), after_insert);
        let frames = read_frames(&wal, WAL_HEADER as u64, 1, after_insert + 1).expect("read");
        assert_eq!(frames.len(), after_insert as usize * FRAME_SIZE);
        let last = frame_header(&frames[(after_insert as usize - 1) * FRAME_SIZE..]);
        assert!(last.commit_size > 0);
        // A corrupted last frame is not committed any more.
        let mut bytes = std::fs::read(&wal).expect("read wal");
        let at = frame_offset(after_insert) as usize + FRAME_HEADER + 100;
        bytes[at] ^= 0xff;
        let copy = dir.path().join("copy-wal");
        std::fs::write(&copy, &bytes).expect("write");
        assert!(WalScanner::default().scan(&copy).expect("scan") < after_insert);
    }
}
