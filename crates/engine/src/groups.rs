//! Groups of users, which agents are shared with. Only admins manage them.

use crate::{Engine, EngineError};
use chorus_types::UserId;
use chorus_types::agent::GroupView;

impl Engine {
    async fn require_admin(&self, user: &UserId) -> Result<(), EngineError> {
        match self.store.user_by_id(&user.0).await? {
            Some(u) if u.is_admin => Ok(()),
            _ => Err(EngineError::Forbidden(
                "Only an administrator can manage groups.".into(),
            )),
        }
    }

    pub async fn groups(&self, admin: &UserId) -> Result<Vec<GroupView>, EngineError> {
        self.require_admin(admin).await?;
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
        self.require_admin(admin).await?;
        let name = name.trim();
        if name.is_empty() || name.contains('@') || name.chars().count() > 100 {
            return Err(EngineError::Invalid(
                "A group's name is 1 to 100 characters, without '@'.".into(),
            ));
        }
        if self.store.group_by_name(name).await?.is_some() {
            return Err(EngineError::Invalid(format!(
                "There is a group named {name:?} already."
            )));
        }
        Ok(self.store.create_group(name).await?)
    }

    /// Adds the account `email` to the group, or removes it.
    pub async fn set_group_member(
        &self,
        admin: &UserId,
        group: &str,
        email: &str,
        member: bool,
    ) -> Result<(), EngineError> {
        self.require_admin(admin).await?;
        let user = self
            .store
            .user_by_email(email.trim())
            .await?
            .ok_or_else(|| EngineError::Invalid(format!("No account uses {:?}.", email.trim())))?;
        Ok(self
            .store
            .set_group_member(group, &UserId(user.id), member)
            .await?)
    }

    pub async fn delete_group(&self, admin: &UserId, group: &str) -> Result<(), EngineError> {
        self.require_admin(admin).await?;
        Ok(self.store.delete_group(group).await?)
    }
}
