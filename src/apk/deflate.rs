//! Deterministic, optionally parallel raw deflate (pigz's scheme): the
//! input is cut into [`BLOCK`]-sized blocks at fixed stream offsets; each
//! block is compressed on its own by a fresh compressor primed with the
//! previous 32 KiB of input as dictionary, and ends with a sync flush (the
//! last one with the final block). The concatenation is one valid deflate
//! stream, and each block's bytes depend only on the input — never on the
//! number of threads or on which thread compressed it — so the output is
//! the same on one core or sixteen.
//!
//! Inside a block, input goes to the compressor in fixed `CHUNK`s with an
//! always-empty `OUT` buffer: zlib-rs (like zlib-ng) emits different,
//! equally valid bytes when the same input arrives in different pieces.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Uncompressed bytes per independently compressed block.
pub const BLOCK: usize = 512 * 1024;

/// Dictionary: deflate's whole window.
pub const DICT: usize = 32 * 1024;

/// Input piece handed to one compressor call.
const CHUNK: usize = 128 * 1024;

/// Output buffer of one compressor call.
const OUT: usize = 128 * 1024;

/// Most threads a writer starts (memory: ~2 MiB per thread in flight).
pub const MAX_THREADS: usize = 16;

/// Compress one block into `sink`: raw deflate of `input` primed with
/// `dict`, ended by a sync flush, or by the final block when `last`.
pub fn compress_block(
    level: u32,
    dict: &[u8],
    input: &[u8],
    last: bool,
    sink: &mut Vec<u8>,
) -> io::Result<()> {
    let mut deflate = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        deflate.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = vec![0; OUT];
    for piece in input.chunks(CHUNK) {
        run(&mut deflate, &mut out, piece, FlushCompress::None, sink)?;
    }
    let flush = match last {
        true => FlushCompress::Finish,
        false => FlushCompress::Sync,
    };
    run(&mut deflate, &mut out, &[], flush, sink)
}

fn run(
    deflate: &mut Compress,
    out: &mut [u8],
    mut input: &[u8],
    flush: FlushCompress,
    sink: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        let (before_in, before_out) = (deflate.total_in(), deflate.total_out());
        let status = deflate
            .compress(input, out, flush)
            .map_err(io::Error::other)?;
        let consumed = (deflate.total_in() - before_in) as usize;
        let produced = (deflate.total_out() - before_out) as usize;
        input = input.get(consumed..).unwrap_or_default();
        let produced = out
            .get(..produced)
            .ok_or_else(|| io::Error::other("deflate reported more output than its buffer"))?;
        sink.extend_from_slice(produced);
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // All input taken and room left over: nothing more is pending.
            FlushCompress::Sync => input.is_empty() && produced.len() < out.len(),
            _ => input.is_empty(),
        };
        if done {
            return Ok(());
        }
        if consumed == 0 && produced.is_empty() {
            return Err(io::Error::other("deflate made no progress"));
        }
    }
}

struct Job {
    seq: u64,
    dict: Vec<u8>,
    input: Vec<u8>,
    last: bool,
}

type Done = (u64, io::Result<Vec<u8>>);

/// Blocks compressed in order, inline or on worker threads; finished
/// blocks come back through [`Blocks::ready`] in stream order.
pub struct Blocks {
    level: u32,
    threads: usize,
    next_seq: u64,
    next_out: u64,
    done: BTreeMap<u64, Vec<u8>>,
    jobs: Option<SyncSender<Job>>,
    results: Option<Receiver<Done>>,
    handles: Vec<JoinHandle<()>>,
}

impl Blocks {
    /// Compress at `level` with `threads` workers (1: inline, no thread).
    pub fn new(level: u32, threads: usize) -> Self {
        let threads = threads.clamp(1, MAX_THREADS);
        let mut blocks = Blocks {
            level,
            threads,
            next_seq: 0,
            next_out: 0,
            done: BTreeMap::new(),
            jobs: None,
            results: None,
            handles: Vec::new(),
        };
        if threads > 1 {
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
            let (done_tx, done_rx) = mpsc::channel::<Done>();
            let job_rx = Arc::new(Mutex::new(job_rx));
            for n in 0..threads {
                let (job_rx, done_tx) = (Arc::clone(&job_rx), done_tx.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("deflate-{n}"))
                    .spawn(move || loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panic must come back as an error: a lost block
                        // would leave the writer waiting for it forever.
                        let result = std::panic::catch_unwind(|| {
                            let mut out = Vec::with_capacity(job.input.len() / 2);
                            compress_block(level, &job.dict, &job.input, job.last, &mut out)
                                .map(|()| out)
                        })
                        .unwrap_or_else(|_| Err(io::Error::other("compression thread panicked")));
                        if done_tx.send((job.seq, result)).is_err() {
                            return;
                        }
                    });
                // The OS refusing a thread only costs speed: fewer workers,
                // or none (inline), give the same bytes.
                match spawned {
                    Ok(handle) => blocks.handles.push(handle),
                    Err(_) => break,
                }
            }
            if !blocks.handles.is_empty() {
                blocks.threads = blocks.handles.len();
                blocks.jobs = Some(job_tx);
                blocks.results = Some(done_rx);
            }
        }
        blocks
    }

    /// Queue the next block (`dict`: the 32 KiB of input before it).
    /// Waits when [`MAX_THREADS`]-bounded work is already in flight.
    pub fn push(&mut self, dict: Vec<u8>, input: Vec<u8>, last: bool) -> io::Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let Some(jobs) = &self.jobs else {
            let mut out = Vec::with_capacity(input.len() / 2);
            compress_block(self.level, &dict, &input, last, &mut out)?;
            self.done.insert(seq, out);
            return Ok(());
        };
        let job = Job {
            seq,
            dict,
            input,
            last,
        };
        jobs.send(job).map_err(|_| worker_gone())?;
        // Bound memory: at most two blocks per thread not yet handed back
        // by `ready` (once the next one in order is done, `ready` drains).
        while self.next_seq - self.next_out > 2 * self.threads as u64
            && !self.done.contains_key(&self.next_out)
        {
            self.receive()?;
        }
        Ok(())
    }

    fn receive(&mut self) -> io::Result<()> {
        let results = self.results.as_ref().ok_or_else(worker_gone)?;
        let (seq, result) = results.recv().map_err(|_| worker_gone())?;
        self.done.insert(seq, result?);
        Ok(())
    }

    /// The next finished blocks in stream order; with `all`, waits for
    /// every queued block.
    pub fn ready(&mut self, all: bool) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        loop {
            if let Some(block) = self.done.remove(&self.next_out) {
                self.next_out += 1;
                out.push(block);
            } else if all && self.next_out < self.next_seq {
                self.receive()?;
            } else {
                return Ok(out);
            }
        }
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // Closing the job channel ends the workers.
        self.jobs = None;
        self.results = None;
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker_gone() -> io::Error {
    io::Error::other("a compression thread stopped")
}
