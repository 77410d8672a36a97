//! Groups of users, which agents are shared with. Only admins manage them
//! (in the UI, or with `chorus group` on the server's data directory).

use crate::{Engine, EngineError};
use chorus_store::Store;
use chorus_types::UserId;
use chorus_types::agent::GroupView;

impl Engine {
    pub(crate) async fn is_admin(&self, user: &UserId) -> Result<bool, EngineError> {
        Ok(self
            .store
            .user_by_id(&user.0)
            .await?
            .is_some_and(|u| u.is_admin))
    }

    pub(crate) async fn require_admin(&self, user: &UserId, what: &str) -> Result<(), EngineError> {
        if self.is_admin(user).await? {
            return Ok(());
        }
        Err(EngineError::Forbidden(format!(
            "Only an administrator can {what}."
        )))
    }

    pub async fn groups(&self, admin: &UserId) -> Result<Vec<GroupView>, EngineError> {
        self.require_admin(admin, "manage groups").await?;
        let rows = self.store.groups().await?;
        Ok(rows
            .into_iter()
            .map(|g| GroupView {
                id: g.id,
                name: g.name,
                members: g.members,
            })
            .collect())
    }

    pub async fn create_group(&self, admin: &UserId, name: &str) -> Result<String, EngineError> {
        self.require_admin(admin, "manage groups").await?;
        create_group(&self.store, name).await
    }

    /// Adds the account `email` to the group, or removes it.
    pub async fn set_group_member(
        &self,
        admin: &UserId,
        group: &str,
        email: &str,
        member: bool,
    ) -> Result<(), EngineError> {
        self.require_admin(admin, "manage groups").await?;
        set_group_member(&self.store, group, email, member).await
    }

    pub async fn delete_group(&self, admin: &UserId, group: &str) -> Result<(), EngineError> {
        self.require_admin(admin, "manage groups").await?;
        Ok(self.store.delete_group(group).await?)
    }
}

/// A new group named `name` (the rules for names, shared with `chorus group`).
pub async fn create_group(store: &Store, name: &str) -> Result<String, EngineError> {
    let name = name.trim();
    if name.is_empty() || name.contains('@') || name.chars().count() > 100 {
        return Err(EngineError::Invalid(
            "A group's name is 1 to 100 characters, without '@'.".into(),
        ));
    }
    if store.group_by_name(name).await?.is_some() {
        return Err(EngineError::Invalid(format!(
            "There is a group named {name:?} already."
        )));
    }
    Ok(store.create_group(name).await?)
}

/// Adds the account `email` to the group with id `group`, or removes it.
pub async fn set_group_member(
    store: &Store,
    group: &str,
    email: &str,
    member: bool,
) -> Result<(), EngineError> {
    let user = store
        .user_by_email(email.trim())
        .await?
        .ok_or_else(|| EngineError::Invalid(format!("No account uses {:?}.", email.trim())))?;
    Ok(store
        .set_group_member(group, &UserId(user.id), member)
        .await?)
}
