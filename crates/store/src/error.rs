#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Db(String),
}

impl From<surrealdb::Error> for StoreError {
    fn from(e: surrealdb::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}
