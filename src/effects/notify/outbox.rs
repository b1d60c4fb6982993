//! TEMPORARY compile stub; replaced by the real outbox.
use std::path::Path;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub key: u64,
    pub payload: Vec<u8>,
}
pub struct Recovered {
    pub pending: Vec<Record>,
    pub problems: Vec<String>,
}
pub struct Limits {
    pub segment_bytes: u64,
    pub total_bytes_max: u64,
}
#[derive(Debug)]
pub enum AppendError {
    Full { pending_bytes: u64 },
    Io(std::io::Error),
}
pub struct Outbox {
    next: u64,
}
impl Outbox {
    pub fn open(_dir: &Path, _limits: Limits) -> std::io::Result<(Outbox, Recovered)> {
        Ok((
            Outbox { next: 1 },
            Recovered {
                pending: vec![],
                problems: vec![],
            },
        ))
    }
    pub fn append(&mut self, batch: &[(u64, &[u8])]) -> Result<Vec<u64>, AppendError> {
        let f = self.next;
        self.next += batch.len() as u64;
        Ok((f..self.next).collect())
    }
    pub fn ack(&mut self, _seqs: &[u64]) -> std::io::Result<()> {
        Ok(())
    }
    pub fn pending(&self) -> (u64, u64) {
        (0, 0)
    }
    pub fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
