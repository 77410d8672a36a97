//! Working on the conversation tree: edit a message (in place, or as a new
//! branch with a new answer), regenerate an answer as a sibling, switch the
//! thread shown, delete a message with what follows it, and fork.

use crate::chat::{Answer, context_of, message_text};
use crate::{Engine, EngineError};
use chorus_gateway::ChatMessage;
use chorus_store::ForkCopy;
use chorus_types::{
    ConversationId, ForkOption, MessageId, MessageState, MessageView, Role, SendResult, Tree,
    UserEvent, UserId,
};

/// Another go at an answer, possibly by another model.
#[derive(Clone, Debug)]
pub struct Regenerate {
    pub conversation: ConversationId,
    /// The answer to write again (it stays, as a sibling).
    pub message: MessageId,
    /// `None` keeps the endpoint and model that wrote it.
    pub endpoint: Option<String>,
    pub model: Option<String>,
}

/// An edited user message sent as a new branch.
#[derive(Clone, Debug)]
pub struct Resubmit {
    pub conversation: ConversationId,
    /// The message edited; it stays, and the new one becomes its sibling.
    pub message: MessageId,
    pub text: String,
    pub endpoint: String,
    pub model: String,
}

impl Engine {
    /// `user`'s conversation's messages (every branch); `NotFound` when it is
    /// not theirs.
    async fn all_messages(
        &self,
        user: &UserId,
        conversation: &ConversationId,
    ) -> Result<Vec<MessageView>, EngineError> {
        Ok(self.load(user, conversation).await?.1)
    }

    /// Changes a message's text in place; no new answer. Not while an answer
    /// is being written into it.
    pub async fn edit_message(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        message: &MessageId,
        text: &str,
    ) -> Result<(), EngineError> {
        let text = message_text(text)?;
        let messages = self.all_messages(user, conversation).await?;
        let edited = Tree::new(&messages)
            .get(message)
            .ok_or(EngineError::NotFound)?;
        if edited.state == MessageState::Streaming {
            return Err(EngineError::Invalid(
                "This answer is still being written; stop it first.".into(),
            ));
        }
        Ok(self.store.edit_text(user, message, text).await?)
    }

    /// Sends an edited version of a user message as its sibling, with a new
    /// answer. The original and its answers stay as the other branch.
    pub async fn resubmit(&self, user: &UserId, req: Resubmit) -> Result<SendResult, EngineError> {
        let text = message_text(&req.text)?;
        self.model_choice(user, &req.endpoint, &req.model).await?;
        let messages = self.all_messages(user, &req.conversation).await?;
        let tree = Tree::new(&messages);
        let edited = tree.get(&req.message).ok_or(EngineError::NotFound)?;
        if edited.role != Role::User {
            return Err(EngineError::Invalid(
                "Only your own messages can be edited and sent again.".into(),
            ));
        }
        let before = edited
            .parent
            .as_ref()
            .map(|p| tree.path_to(p))
            .unwrap_or_default();
        let question = self
            .add_question(user, &req.conversation, edited.parent.as_ref(), text)
            .await?;
        let mut context = context_of(before);
        context.push(ChatMessage::user(text));
        self.answer(
            user,
            Answer {
                conversation: req.conversation,
                question,
                endpoint: req.endpoint,
                model: req.model,
                context,
                title_model: None,
                touch: true,
                tools: None,
            },
        )
        .await
    }

    /// Writes a new answer to the question `req.message` answered, as its
    /// sibling; the old answer stays one `‹ ›` away.
    pub async fn regenerate(
        &self,
        user: &UserId,
        req: Regenerate,
    ) -> Result<SendResult, EngineError> {
        let messages = self.all_messages(user, &req.conversation).await?;
        let tree = Tree::new(&messages);
        let old = tree.get(&req.message).ok_or(EngineError::NotFound)?;
        let question = match (&old.role, &old.parent) {
            (Role::Assistant, Some(q)) => q.clone(),
            _ => {
                return Err(EngineError::Invalid(
                    "Only an answer can be regenerated.".into(),
                ));
            }
        };
        let endpoint = req.endpoint.or_else(|| old.endpoint.clone());
        let model = req.model.or_else(|| old.model.clone());
        let (Some(endpoint), Some(model)) = (endpoint, model) else {
            return Err(EngineError::Invalid("Pick a model first.".into()));
        };
        self.model_choice(user, &endpoint, &model).await?;
        let context = context_of(tree.path_to(&question));
        self.answer(
            user,
            Answer {
                conversation: req.conversation,
                question,
                endpoint,
                model,
                context,
                title_model: None,
                touch: true,
                tools: None,
            },
        )
        .await
    }

    /// Remembers which thread the user looks at (after a `‹ ›` switch), so a
    /// reload or another device opens the same one.
    pub async fn show_thread(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        leaf: &MessageId,
    ) -> Result<(), EngineError> {
        Ok(self.store.set_leaf(user, conversation, leaf).await?)
    }

    /// Deletes a message and everything below it; answers being written there
    /// are stopped. The thread shown moves to the parent's other branches.
    /// Returns how many messages went.
    pub async fn delete_message(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        message: &MessageId,
    ) -> Result<usize, EngineError> {
        let messages = self.all_messages(user, conversation).await?;
        let tree = Tree::new(&messages);
        let target = tree.get(message).ok_or(EngineError::NotFound)?;
        let subtree = tree.subtree(message);
        for m in &subtree {
            if let (MessageState::Streaming, Some(job)) = (m.state, &m.job) {
                self.jobs.abort(job, user).await;
            }
        }
        let ids: Vec<MessageId> = subtree.iter().map(|m| m.id.clone()).collect();
        Ok(self
            .store
            .delete_messages(user, conversation, &ids, target.parent.as_ref())
            .await?)
    }

    /// Copies part of a conversation into a new one (see `ForkOption`) that
    /// opens on the copy of the thread shown, or of `message`. The copies are independent: editing
    /// one never changes the other.
    pub async fn fork(
        &self,
        user: &UserId,
        conversation: &ConversationId,
        message: &MessageId,
        option: ForkOption,
        start_here: bool,
    ) -> Result<ConversationId, EngineError> {
        let (row, messages) = self.load(user, conversation).await?;
        let tree = Tree::new(&messages);
        let picked = tree.fork_selection(message, option, start_here);
        if picked.is_empty() {
            return Err(EngineError::NotFound);
        }
        // The fork opens on the thread the user was looking at when that was
        // copied (a fork that starts here takes it along), else at the target.
        let shown = row.leaf.clone().map(MessageId);
        let leaf = shown
            .as_ref()
            .filter(|l| picked.iter().any(|m| &m.id == *l))
            .unwrap_or(message);
        let (id, _) = self
            .store
            .copy_fork(
                user,
                ForkCopy {
                    source: conversation,
                    target: message,
                    title: &row.title,
                    endpoint: row.endpoint.as_deref(),
                    model: row.model.as_deref(),
                    messages: &picked,
                    leaf,
                },
            )
            .await?;
        self.events.publish(
            user,
            UserEvent::ConversationCreated {
                conversation: id.clone(),
                title: row.title,
            },
        );
        Ok(id)
    }
}
