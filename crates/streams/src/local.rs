//! The in-process backend: logs in memory, live delivery by a watch channel on
//! each log's length ("wake up and read the log again").

use crate::{JobMeta, JobWriter, Sink, Watched};
use chorus_types::{ConversationId, JobEvent, JobId, SequencedEvent, UserId};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub(crate) struct Job {
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

    pub(crate) fn append(&self, event: JobEvent) -> u64 {
        let terminal = event.is_terminal();
        let seq = {
            let mut log = self.log.write().unwrap();
            if log.last().is_some_and(JobEvent::is_terminal) {
                return log.len() as u64;
            }
            log.push(event);
            log.len() as u64
        };
        if terminal {
            *self.finished_at.lock().unwrap() = Some(Instant::now());
        }
        self.len.send_replace(seq);
        seq
    }
}

#[derive(Clone, Default)]
pub(crate) struct LocalJobs {
    jobs: Arc<RwLock<HashMap<JobId, Arc<Job>>>>,
}

impl LocalJobs {
    pub(crate) fn create(&self, id: JobId, meta: JobMeta) -> JobWriter {
        let (len, _) = watch::channel(0);
        let cancel = CancellationToken::new();
        let job = Arc::new(Job {
            meta,
            log: RwLock::new(Vec::new()),
            len,
            cancel: cancel.clone(),
            finished_at: Mutex::new(None),
        });
        self.jobs.write().unwrap().insert(id.clone(), job.clone());
        JobWriter {
            id,
            cancel,
            sink: Sink::Local(job),
            fenced: Arc::new(AtomicBool::new(false)),
        }
    }

    fn get_owned(&self, id: &JobId, user: &UserId) -> Option<Arc<Job>> {
        let job = self.jobs.read().unwrap().get(id).cloned()?;
        (job.meta.owner == *user).then_some(job)
    }

    pub(crate) fn meta(&self, id: &JobId, user: &UserId) -> Option<JobMeta> {
        self.get_owned(id, user).map(|j| j.meta.clone())
    }

    pub(crate) fn subscribe(
        &self,
        id: &JobId,
        user: &UserId,
        after: u64,
    ) -> Option<BoxStream<'static, Watched>> {
        let job = self.get_owned(id, user)?;
        let mut changed = job.len.subscribe();
        Some(
            async_stream::stream! {
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
                        yield Watched::Event(ev);
                    }
                    if ended || changed.changed().await.is_err() {
                        break;
                    }
                }
            }
            .boxed(),
        )
    }

    pub(crate) fn abort(&self, id: &JobId, user: &UserId) -> bool {
        match self.get_owned(id, user) {
            Some(job) => {
                job.cancel.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn abort_conversation(&self, user: &UserId, conversation: &ConversationId) {
        for job in self.jobs.read().unwrap().values() {
            if job.meta.owner == *user && job.meta.conversation == *conversation {
                job.cancel.cancel();
            }
        }
    }

    pub(crate) fn sweep(&self, retention: Duration) -> usize {
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
}
