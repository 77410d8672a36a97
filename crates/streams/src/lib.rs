//! Generation jobs, independent of any HTTP connection.
//!
//! A job owns an append-only log of [`JobEvent`]s numbered 1, 2, 3, … A subscriber
//! says which sequence number it already has and receives exactly the events after
//! it, first from the log and then live, with no gap and no duplicate, because the
//! log itself is the only source (live delivery is just "wake up and read the log
//! again"). This is the in-process backend; the Redis backend (scale-out) keeps the
//! same contract.

mod user_events;
pub use user_events::{Notice, UserEvents};

use chorus_types::{ConversationId, JobEvent, JobId, SequencedEvent, UserId};
use futures::Stream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a finished job's log stays available for late subscribers. After
/// that the stored message is the record of what happened.
pub const FINISHED_RETENTION: Duration = Duration::from_secs(5 * 60);

/// Who a job belongs to and what it generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobMeta {
    pub owner: UserId,
    pub conversation: ConversationId,
}

struct Job {
    meta: JobMeta,
    log: RwLock<Vec<JobEvent>>,
    /// The number of events in the log; subscribers wait for it to change.
    len: watch::Sender<u64>,
    cancel: CancellationToken,
    finished_at: Mutex<Option<Instant>>,
}

impl Job {
    fn events_after(&self, seq: u64) -> Vec<SequencedEvent> {
        let log = self.log.read().unwrap();
        log.iter()
            .enumerate()
            .skip(seq as usize)
            .map(|(i, e)| SequencedEvent {
                seq: i as u64 + 1,
                event: e.clone(),
            })
            .collect()
    }
}

/// The in-process job registry.
#[derive(Clone, Default)]
pub struct Jobs {
    jobs: Arc<RwLock<HashMap<JobId, Arc<Job>>>>,
}

/// The producing side of one job.
pub struct JobWriter {
    id: JobId,
    job: Arc<Job>,
}

impl JobWriter {
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// Appends `event`; returns its sequence number. Nothing is appended after a
    /// terminal event.
    pub fn append(&self, event: JobEvent) -> u64 {
        let terminal = event.is_terminal();
        let seq = {
            let mut log = self.job.log.write().unwrap();
            if log.last().is_some_and(JobEvent::is_terminal) {
                return log.len() as u64;
            }
            log.push(event);
            log.len() as u64
        };
        if terminal {
            *self.job.finished_at.lock().unwrap() = Some(Instant::now());
        }
        self.job.len.send_replace(seq);
        seq
    }

    /// Resolves when someone asks this job to stop.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.job.cancel.cancelled()
    }

    pub fn is_cancelled(&self) -> bool {
        self.job.cancel.is_cancelled()
    }
}

impl Jobs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new job with id `id` and returns its writer.
    pub fn create(&self, id: JobId, meta: JobMeta) -> JobWriter {
        let (len, _) = watch::channel(0);
        let job = Arc::new(Job {
            meta,
            log: RwLock::new(Vec::new()),
            len,
            cancel: CancellationToken::new(),
            finished_at: Mutex::new(None),
        });
        self.jobs.write().unwrap().insert(id.clone(), job.clone());
        JobWriter { id, job }
    }

    fn get_owned(&self, id: &JobId, user: &UserId) -> Option<Arc<Job>> {
        let job = self.jobs.read().unwrap().get(id).cloned()?;
        (job.meta.owner == *user).then_some(job)
    }

    /// The job's metadata, if `user` may see it.
    pub fn meta(&self, id: &JobId, user: &UserId) -> Option<JobMeta> {
        self.get_owned(id, user).map(|j| j.meta.clone())
    }

    /// Events after `after` (0 = from the start), then live events until the
    /// terminal one. `None` when there is no such job for `user` (a stranger's job
    /// looks exactly like a missing one).
    pub fn subscribe(
        &self,
        id: &JobId,
        user: &UserId,
        after: u64,
    ) -> Option<impl Stream<Item = SequencedEvent> + Send + 'static> {
        let job = self.get_owned(id, user)?;
        let mut changed = job.len.subscribe();
        Some(async_stream::stream! {
            let mut cursor = after;
            loop {
                // Mark the current length as seen *before* reading, so an append
                // racing with the read still wakes us up.
                changed.borrow_and_update();
                let batch = job.events_after(cursor);
                let mut ended = false;
                for ev in batch {
                    cursor = ev.seq;
                    ended |= ev.event.is_terminal();
                    yield ev;
                }
                if ended || changed.changed().await.is_err() {
                    break;
                }
            }
        })
    }

    /// Asks a running job to stop. Returns false when `user` has no such job.
    pub fn abort(&self, id: &JobId, user: &UserId) -> bool {
        match self.get_owned(id, user) {
            Some(job) => {
                job.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every running job of `user` in `conversation` (it is being deleted).
    pub fn abort_conversation(&self, user: &UserId, conversation: &ConversationId) {
        for job in self.jobs.read().unwrap().values() {
            if job.meta.owner == *user && job.meta.conversation == *conversation {
                job.cancel.cancel();
            }
        }
    }

    /// Drops logs of jobs that finished more than `retention` ago.
    pub fn sweep(&self, retention: Duration) -> usize {
        let mut jobs = self.jobs.write().unwrap();
        let before = jobs.len();
        jobs.retain(|_, j| {
            j.finished_at
                .lock()
                .unwrap()
                .is_none_or(|at| at.elapsed() < retention)
        });
        before - jobs.len()
    }

    /// Sweeps finished jobs every minute for as long as the runtime lives.
    pub fn spawn_sweeper(&self) {
        let jobs = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                jobs.sweep(FINISHED_RETENTION);
            }
        });
    }
}

#[cfg(test)]
mod tests;
