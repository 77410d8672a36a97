//! Generation jobs, independent of any HTTP connection.
//!
//! A job owns an append-only log of [`JobEvent`]s numbered 1, 2, 3, … A subscriber
//! says which sequence number it already has and receives exactly the events after
//! it, first from the log and then live, with no gap and no duplicate, because the
//! log itself is the source of truth (live delivery only saves re-reading it).
//!
//! Two backends keep that contract: [`local`] (in-process, the default) and
//! [`redis`](mod@redis) (logs in Redis Streams, live fan-out and aborts over
//! pub/sub, job ownership held by a heartbeat lease, so any instance serves any
//! subscriber and a job whose instance died is adopted by another one).

mod local;
mod redis;
mod user_events;

pub use redis::RedisConfig;
pub use user_events::{Notice, UserEvents};

use chorus_types::{ConversationId, JobEvent, JobId, SequencedEvent, UserId};
use futures::stream::BoxStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
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

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Watched {
    Event(SequencedEvent),
    /// Live delivery is interrupted (the Redis backend lost its server); the
    /// subscription stays and resumes where it was when the server is back.
    Interrupted(String),
}

impl Watched {
    /// The event, if this is one (tests and callers that ignore interruptions).
    pub fn event(self) -> Option<SequencedEvent> {
        match self {
            Watched::Event(e) => Some(e),
            Watched::Interrupted(_) => None,
        }
    }
}

/// A job whose instance stopped renewing its lease (it died); this instance
/// now owns it and should continue the generation where the log ends.
pub struct Orphan {
    pub writer: JobWriter,
    pub meta: JobMeta,
    /// What the engine stored when it created the job (how to continue it).
    pub spec: String,
    /// The log so far.
    pub events: Vec<JobEvent>,
}

/// The streams of one process: job logs and per-user change notices.
pub struct Streams {
    pub jobs: Jobs,
    pub events: UserEvents,
    /// Jobs this process adopted from dead instances (Redis backend only).
    pub orphans: mpsc::UnboundedReceiver<Orphan>,
}

impl Streams {
    /// Everything in this process (a single instance; no Redis needed).
    pub fn local() -> Self {
        let (_, orphans) = mpsc::unbounded_channel();
        Self {
            jobs: Jobs {
                backend: Backend::Local(local::LocalJobs::default()),
            },
            events: UserEvents::new(),
            orphans,
        }
    }

    /// Shared through Redis with every other instance configured the same way.
    /// Fails when the server cannot be reached now (the error says where).
    pub async fn redis(config: RedisConfig) -> Result<Self, String> {
        let events = UserEvents::new();
        let (jobs, orphans) = redis::RedisJobs::connect(config, events.clone()).await?;
        Ok(Self {
            jobs: Jobs {
                backend: Backend::Redis(jobs),
            },
            events,
            orphans,
        })
    }
}

#[derive(Clone)]
enum Backend {
    Local(local::LocalJobs),
    Redis(redis::RedisJobs),
}

/// The job registry (cheap to clone).
#[derive(Clone)]
pub struct Jobs {
    backend: Backend,
}

impl Default for Jobs {
    fn default() -> Self {
        Streams::local().jobs
    }
}

/// The producing side of one job. Appending never waits: the Redis backend
/// sends events in order from a background task (and keeps them while the
/// server is unreachable).
pub struct JobWriter {
    id: JobId,
    cancel: CancellationToken,
    sink: Sink,
    /// Set when another instance took this job over (this one stalled past its
    /// lease): nothing more this writer does may reach the log or the store.
    fenced: Arc<AtomicBool>,
}

enum Sink {
    Local(Arc<local::Job>),
    Redis(redis::Appender),
}

impl JobWriter {
    pub fn id(&self) -> &JobId {
        &self.id
    }

    /// Appends `event`; returns its sequence number. Nothing is appended after a
    /// terminal event.
    pub fn append(&self, event: JobEvent) -> u64 {
        match &self.sink {
            Sink::Local(job) => job.append(event),
            Sink::Redis(appender) => appender.append(event),
        }
    }

    /// Resolves when someone asks this job to stop.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether another instance owns this job now (see the field).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// Waits until every appended event is in the log (Redis: sent and
    /// acknowledged). Tests and orderly shutdown use it.
    pub async fn flushed(&self) {
        if let Sink::Redis(appender) = &self.sink {
            appender.flushed().await;
        }
    }
}

impl Jobs {
    /// An in-process registry (tests, single instance).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a new job with id `id` and returns its writer. `spec` is kept
    /// with the job for whoever adopts it if this process dies.
    pub async fn create(
        &self,
        id: JobId,
        meta: JobMeta,
        spec: String,
    ) -> Result<JobWriter, String> {
        match &self.backend {
            Backend::Local(jobs) => Ok(jobs.create(id, meta)),
            Backend::Redis(jobs) => jobs.create(id, meta, spec).await,
        }
    }

    /// The job's metadata, if `user` may see it.
    pub async fn meta(&self, id: &JobId, user: &UserId) -> Option<JobMeta> {
        match &self.backend {
            Backend::Local(jobs) => jobs.meta(id, user),
            Backend::Redis(jobs) => jobs.meta(id, user).await,
        }
    }

    /// Events after `after` (0 = from the start), then live events until the
    /// terminal one. `None` when there is no such job for `user` (a stranger's job
    /// looks exactly like a missing one).
    pub async fn subscribe(
        &self,
        id: &JobId,
        user: &UserId,
        after: u64,
    ) -> Option<BoxStream<'static, Watched>> {
        match &self.backend {
            Backend::Local(jobs) => jobs.subscribe(id, user, after),
            Backend::Redis(jobs) => jobs.subscribe(id, user, after).await,
        }
    }

    /// Asks a running job to stop, wherever it runs. Returns false when `user`
    /// has no such job.
    pub async fn abort(&self, id: &JobId, user: &UserId) -> bool {
        match &self.backend {
            Backend::Local(jobs) => jobs.abort(id, user),
            Backend::Redis(jobs) => jobs.abort(id, user).await,
        }
    }

    /// Stops every running job of `user` in `conversation` (it is being deleted).
    pub async fn abort_conversation(&self, user: &UserId, conversation: &ConversationId) {
        match &self.backend {
            Backend::Local(jobs) => jobs.abort_conversation(user, conversation),
            Backend::Redis(jobs) => jobs.abort_conversation(user, conversation).await,
        }
    }

    /// Which of `ids` are jobs still running somewhere (an instance holds them,
    /// or one will adopt them). Errors when that cannot be known now.
    pub async fn running(&self, ids: &[JobId]) -> Result<Vec<JobId>, String> {
        match &self.backend {
            // A new process has no jobs: whatever was running died with the last one.
            Backend::Local(_) => Ok(Vec::new()),
            Backend::Redis(jobs) => jobs.running(ids).await,
        }
    }

    /// Drops logs of jobs that finished more than `retention` ago (Redis
    /// expires them by itself), and returns their memory to the system.
    pub fn sweep(&self, retention: Duration) -> usize {
        let swept = match &self.backend {
            Backend::Local(jobs) => jobs.sweep(retention),
            Backend::Redis(_) => 0,
        };
        if swept > 0 {
            release_free_memory();
        }
        swept
    }

    /// Sweeps finished jobs every minute for as long as the runtime lives.
    pub fn spawn_sweeper(&self) {
        if let Backend::Local(_) = &self.backend {
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
}

/// glibc keeps freed heap pages for reuse, so a server that once held many
/// logs would stay at its peak RSS forever; after a sweep, hand them back.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests;
