//! The Redis backend: any instance serves any subscriber, and a job outlives
//! the instance that started it.
//!
//! Keys (under a prefix, `chorus` by default):
//! - `{p}:job:{id}` hash: `owner`, `conversation`, `spec` (how to continue it),
//!   `len` (events in the log), `done`, `aborted`;
//! - `{p}:job:{id}:log` stream: entry `{seq}-0` holds field `e`, the event as JSON;
//! - `{p}:job:{id}:lease` the instance running the job, renewed every second,
//!   expiring after [`LEASE`] when that instance dies;
//! - `{p}:running` the set of unfinished jobs, which every instance scans for
//!   jobs whose lease expired (orphans) and adopts them.
//!
//! Channels: `{p}:ev:{id}` carries `"{seq} {json}"` for each appended event,
//! `{p}:abort` job ids to stop, `{p}:user:{id}` a user's change notices.
//! A running job's keys expire [`RUNNING_TTL`] after the last heartbeat, a
//! finished one's after [`FINISHED_RETENTION`], so nothing outlives its use.
//!
//! Every write to a job's log goes through one script that also checks the
//! lease: an instance that stalled past its lease and was replaced finds its
//! writes refused (it is fenced) instead of interleaving with the new owner.

use crate::{FINISHED_RETENTION, JobMeta, JobWriter, Notice, Orphan, Sink, UserEvents, Watched};
use chorus_types::{ConversationId, JobEvent, JobId, SequencedEvent, UserEvent, UserId};
use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How long a job stays owned without a heartbeat (then another instance adopts it).
const LEASE: Duration = Duration::from_secs(3);
/// How often owners renew their leases and every instance looks for orphans.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a running job's keys live after the last heartbeat (every instance gone).
const RUNNING_TTL: Duration = Duration::from_secs(3600);
/// A quiet subscriber re-reads the log this often, in case pub/sub lost a message.
const POLL: Duration = Duration::from_secs(10);
/// Live events buffered per job for this process's subscribers before a slow
/// one falls back to reading the log.
const LIVE_BACKLOG: usize = 256;
/// Events sent to Redis in one round trip at most.
const BATCH: usize = 256;

/// Where the shared Redis is.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://` …).
    pub url: String,
    /// Prepended to every key and channel, so several deployments can share one server.
    pub prefix: String,
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "chorus".into(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct RedisJobs {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    prefix: String,
    /// This process, as lease holder.
    instance: String,
    /// Live events of each job someone in this process watches.
    live: Mutex<HashMap<JobId, broadcast::Sender<Live>>>,
    /// Jobs this process runs.
    owned: Mutex<HashMap<JobId, Owned>>,
    orphans: mpsc::UnboundedSender<Orphan>,
}

#[derive(Clone)]
struct Owned {
    cancel: CancellationToken,
    fenced: Arc<AtomicBool>,
}

#[derive(Clone, Debug)]
enum Live {
    Event(SequencedEvent),
    /// The pub/sub connection came back: re-read the log (messages may be lost).
    Resync,
    /// The pub/sub connection is down.
    Down(String),
}

impl RedisJobs {
    pub(crate) async fn connect(
        config: RedisConfig,
        events: UserEvents,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Orphan>), String> {
        let unreachable =
            |e: redis::RedisError| format!("cannot reach Redis at {}: {e}", config.url);
        let client = redis::Client::open(config.url.as_str()).map_err(unreachable)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client.clone(), manager)
            .await
            .map_err(unreachable)?;
        let (orphans_tx, orphans) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            conn,
            prefix: config.prefix,
            instance: instance_id(),
            live: Mutex::default(),
            owned: Mutex::default(),
            orphans: orphans_tx,
        });
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        tokio::spawn(listen(
            Arc::downgrade(&inner),
            client,
            events.clone(),
            subscribed_tx,
        ));
        // Subscriptions first: a notice published before them would be lost.
        let _ = subscribed.await;
        events.send_through(publisher(Arc::downgrade(&inner)));
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Ok((Self { inner }, orphans))
    }

    pub(crate) async fn create(
        &self,
        id: JobId,
        meta: JobMeta,
        spec: String,
    ) -> Result<JobWriter, String> {
        let keys = self.inner.keys(&id);
        let mut conn = self.inner.conn.clone();
        redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(&keys.job)
            .arg(&[
                ("owner", meta.owner.0.as_str()),
                ("conversation", meta.conversation.0.as_str()),
                ("spec", spec.as_str()),
                ("len", "0"),
            ])
            .ignore()
            .cmd("EXPIRE")
            .arg(&keys.job)
            .arg(RUNNING_TTL.as_secs())
            .ignore()
            .cmd("SET")
            .arg(&keys.lease)
            .arg(&self.inner.instance)
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(self.inner.running())
            .arg(&id.0)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| format!("Redis refused the new job: {e}"))?;
        let record = Record {
            owner: meta.owner.0,
            conversation: meta.conversation.0,
            spec,
        };
        Ok(self.inner.writer(id, 0, record))
    }

    pub(crate) async fn meta(&self, id: &JobId, user: &UserId) -> Option<JobMeta> {
        let mut conn = self.inner.conn.clone();
        let (owner, conversation): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(self.inner.keys(id).job)
            .arg("owner")
            .arg("conversation")
            .query_async(&mut conn)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "reading a job from Redis failed"))
            .ok()?;
        let meta = JobMeta {
            owner: UserId(owner?),
            conversation: ConversationId(conversation?),
        };
        (meta.owner == *user).then_some(meta)
    }

    pub(crate) async fn subscribe(
        &self,
        id: &JobId,
        user: &UserId,
        after: u64,
    ) -> Option<BoxStream<'static, Watched>> {
        // Listen before the ownership check reads anything: an event appended
        // in between then arrives live instead of being missed.
        let mut live = self.inner.listen(id);
        self.meta(id, user).await?;
        let inner = self.inner.clone();
        let id = id.clone();
        Some(
            async_stream::stream! {
                let mut cursor = after;
                let mut interrupted = false;
                'read: loop {
                    match inner.read_log(&id, cursor).await {
                        Ok(None) => break 'read,
                        Ok(Some(batch)) => {
                            interrupted = false;
                            for ev in batch {
                                cursor = ev.seq;
                                let end = ev.event.is_terminal();
                                yield Watched::Event(ev);
                                if end {
                                    break 'read;
                                }
                            }
                        }
                        Err(e) => {
                            if !std::mem::replace(&mut interrupted, true) {
                                yield Watched::Interrupted(e);
                            }
                            tokio::time::sleep(HEARTBEAT).await;
                            continue 'read;
                        }
                    }
                    loop {
                        match tokio::time::timeout(POLL, live.recv()).await {
                            Ok(Ok(Live::Event(ev))) if ev.seq <= cursor => {}
                            Ok(Ok(Live::Event(ev))) if ev.seq == cursor + 1 => {
                                cursor = ev.seq;
                                let end = ev.event.is_terminal();
                                yield Watched::Event(ev);
                                if end {
                                    break 'read;
                                }
                            }
                            Ok(Ok(Live::Down(reason))) => {
                                if !std::mem::replace(&mut interrupted, true) {
                                    yield Watched::Interrupted(reason);
                                }
                            }
                            // A gap, a reconnect, a lag, or a quiet while: the log decides.
                            Ok(Ok(Live::Event(_) | Live::Resync))
                            | Ok(Err(broadcast::error::RecvError::Lagged(_)))
                            | Err(_) => continue 'read,
                            Ok(Err(broadcast::error::RecvError::Closed)) => break 'read,
                        }
                    }
                }
            }
            .boxed(),
        )
    }

    pub(crate) async fn abort(&self, id: &JobId, user: &UserId) -> bool {
        if self.meta(id, user).await.is_none() {
            return false;
        }
        let mut conn = self.inner.conn.clone();
        let sent = redis::pipe()
            .cmd("HSET")
            .arg(self.inner.keys(id).job)
            .arg("aborted")
            .arg("1")
            .ignore()
            .cmd("PUBLISH")
            .arg(self.inner.channel("abort"))
            .arg(&id.0)
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, job = %id.0, "asking a job to stop through Redis failed");
            return false;
        }
        true
    }

    pub(crate) async fn abort_conversation(&self, user: &UserId, conversation: &ConversationId) {
        let mut conn = self.inner.conn.clone();
        let result: redis::RedisResult<()> = ABORT_CONVERSATION
            .arg(&self.inner.prefix)
            .arg(&user.0)
            .arg(&conversation.0)
            .invoke_async(&mut conn)
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "stopping a conversation's jobs through Redis failed");
        }
    }

    pub(crate) async fn running(&self, ids: &[JobId]) -> Result<Vec<JobId>, String> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(self.inner.keys(id).job)
                .arg("owner")
                .arg("done");
        }
        let mut conn = self.inner.conn.clone();
        let rows: Vec<(Option<String>, Option<String>)> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| format!("cannot ask Redis which jobs run: {e}"))?;
        Ok(ids
            .iter()
            .zip(rows)
            .filter(|(_, (owner, done))| owner.is_some() && done.as_deref() != Some("1"))
            .map(|(id, _)| id.clone())
            .collect())
    }
}

/// `XRANGE`'s reply: (entry id, [(field, value)]).
type LogEntries = Vec<(String, Vec<(String, String)>)>;
/// A job hash's owner, conversation, spec, len and done.
type JobFields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<String>,
);

struct Keys {
    job: String,
    log: String,
    lease: String,
    events: String,
}

impl Inner {
    fn keys(&self, id: &JobId) -> Keys {
        let job = format!("{}:job:{}", self.prefix, id.0);
        Keys {
            log: format!("{job}:log"),
            lease: format!("{job}:lease"),
            events: format!("{}:ev:{}", self.prefix, id.0),
            job,
        }
    }

    fn running(&self) -> String {
        format!("{}:running", self.prefix)
    }

    fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// A receiver of `id`'s live events (shared per job in this process).
    fn listen(&self, id: &JobId) -> broadcast::Receiver<Live> {
        let mut live = self.live.lock().unwrap();
        // Forget jobs nobody here watches any more.
        live.retain(|_, tx| tx.receiver_count() > 0);
        live.entry(id.clone())
            .or_insert_with(|| broadcast::channel(LIVE_BACKLOG).0)
            .subscribe()
    }

    /// Events after `after`; `None` when the job is gone (expired).
    async fn read_log(
        &self,
        id: &JobId,
        after: u64,
    ) -> Result<Option<Vec<SequencedEvent>>, String> {
        let keys = self.keys(id);
        let mut conn = self.conn.clone();
        let (entries, exists): (LogEntries, bool) = redis::pipe()
            .cmd("XRANGE")
            .arg(&keys.log)
            .arg(format!("{}-0", after + 1))
            .arg("+")
            .cmd("EXISTS")
            .arg(&keys.job)
            .query_async(&mut conn)
            .await
            .map_err(|e| {
                format!("Live updates are interrupted: Redis is unreachable ({e}). Retrying.")
            })?;
        if entries.is_empty() && !exists {
            return Ok(None);
        }
        Ok(Some(
            entries
                .into_iter()
                .filter_map(|(entry, fields)| parse_entry(&entry, fields))
                .collect(),
        ))
    }

    /// A writer for job `id`, whose log holds `len` events, owned by this process.
    fn writer(self: &Arc<Self>, id: JobId, len: u64, record: Record) -> JobWriter {
        let owned = Owned {
            cancel: CancellationToken::new(),
            fenced: Arc::new(AtomicBool::new(false)),
        };
        self.owned.lock().unwrap().insert(id.clone(), owned.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let (flushed_tx, flushed) = watch::channel(len);
        tokio::spawn(flush(
            self.clone(),
            id.clone(),
            record,
            rx,
            flushed_tx,
            owned.clone(),
        ));
        JobWriter {
            id,
            cancel: owned.cancel,
            sink: Sink::Redis(Appender {
                state: Mutex::new((len, false)),
                tx,
                flushed,
            }),
            fenced: owned.fenced,
        }
    }

    /// Claims a job whose lease expired; `None` when another instance was faster
    /// or the job finished meanwhile.
    async fn adopt(self: &Arc<Self>, id: JobId) -> redis::RedisResult<Option<Orphan>> {
        let keys = self.keys(&id);
        let mut conn = self.conn.clone();
        let claimed: Option<String> = redis::cmd("SET")
            .arg(&keys.lease)
            .arg(&self.instance)
            .arg("NX")
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if claimed.is_none() {
            return Ok(None);
        }
        let ((owner, conversation, spec, len, done), entries): (JobFields, LogEntries) =
            redis::pipe()
                .cmd("HMGET")
                .arg(&keys.job)
                .arg(&["owner", "conversation", "spec", "len", "done"])
                .cmd("XRANGE")
                .arg(&keys.log)
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await?;
        let (Some(owner), Some(conversation)) = (owner, conversation) else {
            return Ok(None);
        };
        if done.as_deref() == Some("1") {
            return Ok(None);
        }
        let events: Vec<JobEvent> = entries
            .into_iter()
            .filter_map(|(entry, fields)| parse_entry(&entry, fields))
            .map(|e| e.event)
            .collect();
        let record = Record {
            owner: owner.clone(),
            conversation: conversation.clone(),
            spec: spec.unwrap_or_default(),
        };
        Ok(Some(Orphan {
            spec: record.spec.clone(),
            writer: self.writer(id, len.unwrap_or(events.len() as u64), record),
            meta: JobMeta {
                owner: UserId(owner),
                conversation: ConversationId(conversation),
            },
            events,
        }))
    }
}

fn parse_entry(entry: &str, fields: Vec<(String, String)>) -> Option<SequencedEvent> {
    let seq = entry.split_once('-')?.0.parse().ok()?;
    let json = fields.into_iter().find(|(f, _)| f == "e")?.1;
    let event = serde_json::from_str(&json)
        .inspect_err(|e| tracing::warn!(error = %e, "unreadable job event in Redis"))
        .ok()?;
    Some(SequencedEvent { seq, event })
}

fn instance_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{:x}", std::process::id(), nanos)
}

/// The appending side of a job owned by this process. Events get their
/// sequence numbers here and go to Redis in order from [`flush`].
pub(crate) struct Appender {
    /// The last sequence number handed out, and whether it was terminal.
    state: Mutex<(u64, bool)>,
    tx: mpsc::UnboundedSender<(u64, String, bool)>,
    /// The last sequence number Redis has.
    flushed: watch::Receiver<u64>,
}

impl Appender {
    pub(crate) fn append(&self, event: JobEvent) -> u64 {
        let mut state = self.state.lock().unwrap();
        if state.1 {
            return state.0;
        }
        state.0 += 1;
        state.1 = event.is_terminal();
        let json = serde_json::to_string(&event).expect("job events serialize");
        // The flusher only stops after the terminal event or when fenced.
        let _ = self.tx.send((state.0, json, state.1));
        state.0
    }

    pub(crate) async fn flushed(&self) {
        let last = self.state.lock().unwrap().0;
        let mut flushed = self.flushed.clone();
        let _ = flushed.wait_for(|&seq| seq >= last).await;
    }
}

/// What a job's hash records about it, kept by its writer so the job can be
/// recorded again if Redis lost it (restarted without persistence).
struct Record {
    owner: String,
    conversation: String,
    spec: String,
}

/// Appends a batch of events to a job's log if this instance still holds (or
/// may retake) the lease; idempotent, so a batch whose reply was lost can be
/// sent again. Returns 0 when another instance holds the lease.
static APPEND: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local holder = redis.call('GET', KEYS[4])
        if holder and holder ~= ARGV[1] then return 0 end
        if redis.call('EXISTS', KEYS[1]) == 0 then
            redis.call('HSET', KEYS[1], 'owner', ARGV[7], 'conversation', ARGV[8], 'spec', ARGV[9])
            redis.call('SADD', KEYS[3], ARGV[6])
        end
        for i = 10, #ARGV, 2 do
            local added = redis.pcall('XADD', KEYS[2], ARGV[i] .. '-0', 'e', ARGV[i + 1])
            if type(added) == 'string' then
                redis.call('HSET', KEYS[1], 'len', ARGV[i])
                redis.call('PUBLISH', ARGV[2], ARGV[i] .. ' ' .. ARGV[i + 1])
            end
        end
        local ttl = ARGV[3]
        if ARGV[5] == '1' then
            ttl = ARGV[4]
            redis.call('HSET', KEYS[1], 'done', '1')
            redis.call('SREM', KEYS[3], ARGV[6])
            redis.call('DEL', KEYS[4])
        end
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        return 1
        ",
    )
});

/// Sends a job's events to Redis in order, batching what queued up meanwhile,
/// and keeps retrying while Redis is unreachable (the events wait in memory).
async fn flush(
    inner: Arc<Inner>,
    id: JobId,
    record: Record,
    mut rx: mpsc::UnboundedReceiver<(u64, String, bool)>,
    flushed: watch::Sender<u64>,
    owned: Owned,
) {
    let keys = inner.keys(&id);
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let terminal = batch.last().is_some_and(|(_, _, t)| *t);
        let mut delay = Duration::from_millis(50);
        loop {
            let mut call = APPEND.prepare_invoke();
            call.key(&keys.job)
                .key(&keys.log)
                .key(inner.running())
                .key(&keys.lease)
                .arg(&inner.instance)
                .arg(&keys.events)
                .arg(RUNNING_TTL.as_secs())
                .arg(FINISHED_RETENTION.as_secs())
                .arg(u8::from(terminal))
                .arg(&id.0)
                .arg(&record.owner)
                .arg(&record.conversation)
                .arg(&record.spec);
            for (seq, json, _) in &batch {
                call.arg(seq).arg(json);
            }
            let mut conn = inner.conn.clone();
            match call.invoke_async::<u8>(&mut conn).await {
                Ok(1) => break,
                Ok(_) => {
                    tracing::warn!(job = %id.0, "another instance took this job over; this one stops");
                    fence(&inner, &id, &owned);
                    return;
                }
                Err(e) => {
                    if delay == Duration::from_millis(50) {
                        tracing::warn!(error = %e, job = %id.0, "appending to the job log in Redis failed; retrying");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
        flushed.send_replace(batch.last().map_or(0, |(seq, _, _)| *seq));
        batch.clear();
        if terminal {
            break;
        }
    }
    // Finished, or the writer was dropped without finishing: either way this
    // process no longer runs the job (an unfinished one is adopted when its
    // lease expires).
    inner.owned.lock().unwrap().remove(&id);
}

fn fence(inner: &Inner, id: &JobId, owned: &Owned) {
    owned.fenced.store(true, Ordering::Relaxed);
    owned.cancel.cancel();
    inner.owned.lock().unwrap().remove(id);
}

/// Renews the leases of `ARGV[5..]` held by `ARGV[2]`; for each returns 0 (renewed),
/// 1 (renewed, but someone asked it to stop) or 2 (another instance holds it).
static RENEW: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local p, me, ms, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local out = {}
        for i = 5, #ARGV do
            local job = p .. ':job:' .. ARGV[i]
            local holder = redis.call('GET', job .. ':lease')
            if holder and holder ~= me then
                out[#out + 1] = 2
            else
                redis.call('SET', job .. ':lease', me, 'PX', ms)
                redis.call('EXPIRE', job, ttl)
                redis.call('EXPIRE', job .. ':log', ttl)
                if redis.call('HGET', job, 'aborted') == '1' then out[#out + 1] = 1 else out[#out + 1] = 0 end
            end
        end
        return out
        ",
    )
});

/// Unfinished jobs nobody holds a lease on (and forgets jobs that expired).
static ORPHANS: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local p = ARGV[1]
        local out = {}
        for _, id in ipairs(redis.call('SMEMBERS', p .. ':running')) do
            local job = p .. ':job:' .. id
            if redis.call('EXISTS', job) == 0 then
                redis.call('SREM', p .. ':running', id)
            elseif redis.call('EXISTS', job .. ':lease') == 0 then
                out[#out + 1] = id
            end
        end
        return out
        ",
    )
});

/// Marks every running job of user `ARGV[2]` in conversation `ARGV[3]` aborted
/// and tells their owners.
static ABORT_CONVERSATION: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
        local p = ARGV[1]
        for _, id in ipairs(redis.call('SMEMBERS', p .. ':running')) do
            local job = p .. ':job:' .. id
            local meta = redis.call('HMGET', job, 'owner', 'conversation')
            if meta[1] == ARGV[2] and meta[2] == ARGV[3] then
                redis.call('HSET', job, 'aborted', '1')
                redis.call('PUBLISH', p .. ':abort', id)
            end
        end
        ",
    )
});

/// Every second: renew this process's leases (stopping jobs that were aborted
/// while pub/sub was down, and fencing ones another instance took), then adopt
/// unfinished jobs nobody holds.
async fn heartbeat(inner: Weak<Inner>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = beat(&inner).await {
            tracing::warn!(error = %e, "the job heartbeat could not reach Redis");
        }
    }
}

async fn beat(inner: &Arc<Inner>) -> redis::RedisResult<()> {
    // Forget live channels (and their buffered events) nobody here watches any more.
    inner
        .live
        .lock()
        .unwrap()
        .retain(|_, tx| tx.receiver_count() > 0);
    let owned: Vec<(JobId, Owned)> = inner
        .owned
        .lock()
        .unwrap()
        .iter()
        .map(|(id, o)| (id.clone(), o.clone()))
        .collect();
    let mut conn = inner.conn.clone();
    if !owned.is_empty() {
        let mut call = RENEW.prepare_invoke();
        call.arg(&inner.prefix)
            .arg(&inner.instance)
            .arg(LEASE.as_millis() as u64)
            .arg(RUNNING_TTL.as_secs());
        for (id, _) in &owned {
            call.arg(&id.0);
        }
        let status: Vec<u8> = call.invoke_async(&mut conn).await?;
        for ((id, job), status) in owned.iter().zip(status) {
            match status {
                1 => job.cancel.cancel(),
                2 => {
                    tracing::warn!(job = %id.0, "another instance took this job over; this one stops");
                    fence(inner, id, job);
                }
                _ => {}
            }
        }
    }
    let orphans: Vec<String> = ORPHANS.arg(&inner.prefix).invoke_async(&mut conn).await?;
    for id in orphans {
        if let Some(orphan) = inner.adopt(JobId(id)).await? {
            tracing::info!(job = %orphan.writer.id().0, "adopted a job whose instance stopped");
            let _ = inner.orphans.send(orphan);
        }
    }
    Ok(())
}

/// Holds this process's pub/sub subscriptions for as long as it lives,
/// reconnecting with backoff, and hands each message to whoever here waits for it.
async fn listen(
    inner: Weak<Inner>,
    client: redis::Client,
    events: UserEvents,
    subscribed: tokio::sync::oneshot::Sender<()>,
) {
    let mut subscribed = Some(subscribed);
    let mut delay = Duration::from_millis(100);
    let prefix = match inner.upgrade() {
        Some(i) => i.prefix.clone(),
        None => return,
    };
    loop {
        match subscribe_all(&client, &prefix).await {
            Ok(stream) => {
                delay = Duration::from_millis(100);
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                } else {
                    // Back after an outage: whatever was published meanwhile is gone.
                    if let Some(inner) = inner.upgrade() {
                        inner.broadcast(Live::Resync);
                    }
                    events.tell_all(Notice::Missed);
                }
                let mut stream = std::pin::pin!(stream);
                while let Some(msg) = stream.next().await {
                    let Some(inner) = inner.upgrade() else { return };
                    inner.dispatch(&msg, &events);
                }
                tracing::warn!("lost the Redis pub/sub connection; reconnecting");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot subscribe to Redis; retrying");
                // The first attempt failing still lets start-up go on (the
                // connection manager already reached Redis once).
                if let Some(tx) = subscribed.take() {
                    let _ = tx.send(());
                }
            }
        }
        match inner.upgrade() {
            Some(inner) => inner.broadcast(Live::Down(
                "Live updates are interrupted: the server lost its connection to Redis. Reconnecting.".into(),
            )),
            None => return,
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn subscribe_all(
    client: &redis::Client,
    prefix: &str,
) -> redis::RedisResult<impl futures::Stream<Item = redis::Msg>> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.psubscribe(format!("{prefix}:ev:*")).await?;
    pubsub.psubscribe(format!("{prefix}:user:*")).await?;
    pubsub.subscribe(format!("{prefix}:abort")).await?;
    Ok(pubsub.into_on_message())
}

impl Inner {
    fn dispatch(&self, msg: &redis::Msg, events: &UserEvents) {
        let Ok(payload) = msg.get_payload::<String>() else {
            return;
        };
        let Some(name) = msg
            .get_channel_name()
            .strip_prefix(self.prefix.as_str())
            .and_then(|n| n.strip_prefix(':'))
        else {
            return;
        };
        if let Some(job) = name.strip_prefix("ev:") {
            let live = self.live.lock().unwrap();
            let Some(tx) = live.get(&JobId(job.into())) else {
                return;
            };
            let parsed = payload.split_once(' ').and_then(|(seq, json)| {
                Some(SequencedEvent {
                    seq: seq.parse().ok()?,
                    event: serde_json::from_str(json).ok()?,
                })
            });
            if let Some(ev) = parsed {
                let _ = tx.send(Live::Event(ev));
            }
        } else if let Some(user) = name.strip_prefix("user:") {
            if let Ok(event) = serde_json::from_str::<UserEvent>(&payload) {
                events.deliver(&UserId(user.into()), Notice::Event(event));
            }
        } else if name == "abort"
            && let Some(job) = self.owned.lock().unwrap().get(&JobId(payload))
        {
            job.cancel.cancel();
        }
    }

    fn broadcast(&self, live: Live) {
        for tx in self.live.lock().unwrap().values() {
            let _ = tx.send(live.clone());
        }
    }
}

/// Publishes user notices through Redis, in order, from one task.
fn publisher(inner: Weak<Inner>) -> mpsc::UnboundedSender<(UserId, UserEvent)> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(UserId, UserEvent)>();
    tokio::spawn(async move {
        while let Some((user, event)) = rx.recv().await {
            let Some(inner) = inner.upgrade() else { return };
            let json = serde_json::to_string(&event).expect("user events serialize");
            let mut conn = inner.conn.clone();
            let sent: redis::RedisResult<()> = redis::cmd("PUBLISH")
                .arg(inner.channel(&format!("user:{}", user.0)))
                .arg(json)
                .query_async(&mut conn)
                .await;
            // Lost notices are caught up by the reload every tab does when
            // pub/sub reconnects.
            if let Err(e) = sent {
                tracing::warn!(error = %e, "publishing a change notice through Redis failed");
            }
        }
    });
    tx
}
