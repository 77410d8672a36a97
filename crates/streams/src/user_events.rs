//! Per-user change notifications: every tab and device a user has open holds
//! one subscription; the engine publishes when a conversation is created,
//! renamed or deleted, or an answer starts or ends.
//!
//! These are hints to refresh, not a log: a subscriber that falls behind (or
//! reconnects) is told it missed some ([`Notice::Missed`]) and reloads what it
//! shows, so nothing has to be replayed.

use chorus_types::{UserEvent, UserId};
use futures::Stream;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::{broadcast, mpsc};

/// How many notices a slow subscriber may lag before it is told it missed some.
const BACKLOG: usize = 64;

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    Event(UserEvent),
    /// Events were dropped for this subscriber; reload everything shown.
    Missed,
}

/// The hub of this process (one channel per user with at least one
/// subscriber). With the Redis backend, notices go out through Redis and come
/// back to every instance's hub, this one included.
#[derive(Clone, Default)]
pub struct UserEvents {
    channels: Arc<RwLock<HashMap<UserId, broadcast::Sender<Notice>>>>,
    remote: Arc<OnceLock<mpsc::UnboundedSender<(UserId, UserEvent)>>>,
}

impl UserEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells every open subscription of `user`, on every instance.
    pub fn publish(&self, user: &UserId, event: UserEvent) {
        match self.remote.get() {
            Some(remote) => {
                let _ = remote.send((user.clone(), event));
            }
            None => self.deliver(user, Notice::Event(event)),
        }
    }

    /// Hands notices to `remote` from now on instead of delivering them here.
    pub(crate) fn send_through(&self, remote: mpsc::UnboundedSender<(UserId, UserEvent)>) {
        let _ = self.remote.set(remote);
    }

    /// Tells `user`'s subscriptions in this process. Without subscribers this
    /// is a map lookup and nothing else.
    pub(crate) fn deliver(&self, user: &UserId, notice: Notice) {
        let channels = self.channels.read().unwrap();
        if let Some(tx) = channels.get(user) {
            // An error means every receiver is gone; `subscribe` cleans up.
            let _ = tx.send(notice);
        }
    }

    /// Tells every subscription in this process (e.g. that notices were lost).
    pub(crate) fn tell_all(&self, notice: Notice) {
        for tx in self.channels.read().unwrap().values() {
            let _ = tx.send(notice.clone());
        }
    }

    /// Notices for `user` from now on, for as long as the stream is held.
    pub fn subscribe(&self, user: &UserId) -> impl Stream<Item = Notice> + Send + 'static {
        let mut rx = {
            let mut channels = self.channels.write().unwrap();
            // Forget channels whose subscribers all left (tabs closed).
            channels.retain(|_, tx| tx.receiver_count() > 0);
            channels
                .entry(user.clone())
                .or_insert_with(|| broadcast::channel(BACKLOG).0)
                .subscribe()
        };
        async_stream::stream! {
            loop {
                match rx.recv().await {
                    Ok(notice) => yield notice,
                    Err(broadcast::error::RecvError::Lagged(_)) => yield Notice::Missed,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
    }

    /// Users with a channel (tests: channels do not pile up).
    #[cfg(test)]
    fn channel_count(&self) -> usize {
        self.channels.read().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_types::ConversationId;
    use futures::StreamExt;

    fn deleted(id: &str) -> UserEvent {
        UserEvent::ConversationDeleted {
            conversation: ConversationId(id.into()),
        }
    }

    #[tokio::test]
    async fn every_subscription_of_the_user_gets_the_event_and_nobody_else_does() {
        let hub = UserEvents::new();
        let alice = UserId("alice".into());
        let bob = UserId("bob".into());
        let mut tab1 = Box::pin(hub.subscribe(&alice));
        let mut tab2 = Box::pin(hub.subscribe(&alice));
        let mut other = Box::pin(hub.subscribe(&bob));
        hub.publish(&alice, deleted("c1"));
        assert_eq!(tab1.next().await, Some(Notice::Event(deleted("c1"))));
        assert_eq!(tab2.next().await, Some(Notice::Event(deleted("c1"))));
        hub.publish(&bob, deleted("c2"));
        // Bob's first notice is his own event, not Alice's.
        assert_eq!(other.next().await, Some(Notice::Event(deleted("c2"))));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_reload() {
        let hub = UserEvents::new();
        let alice = UserId("alice".into());
        let mut slow = Box::pin(hub.subscribe(&alice));
        for i in 0..BACKLOG + 5 {
            hub.publish(&alice, deleted(&i.to_string()));
        }
        assert_eq!(slow.next().await, Some(Notice::Missed));
        // After the notice it continues with what is still buffered.
        assert!(matches!(slow.next().await, Some(Notice::Event(_))));
    }

    #[tokio::test]
    async fn channels_of_users_who_left_are_forgotten() {
        let hub = UserEvents::new();
        for i in 0..10 {
            let s = hub.subscribe(&UserId(format!("u{i}")));
            drop(s);
        }
        let _kept = hub.subscribe(&UserId("last".into()));
        assert_eq!(hub.channel_count(), 1);
    }
}
