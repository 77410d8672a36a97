//! Server functions for two-factor authentication in settings: whether it is
//! on, set it up (a new seed and its QR code), turn it on with a first code
//! (returns the backup codes, shown once), turn it off with a code.

use super::ApiError;
#[cfg(feature = "ssr")]
use super::ssr;
use chorus_types::TwoFactorSetup;
use leptos::prelude::*;

#[server(prefix = "/api", endpoint = "two-factor/status")]
pub async fn two_factor_enabled() -> Result<bool, ApiError> {
    let user = ssr::user().await?;
    let state = ssr::state()?;
    Ok(ssr::two_factor(&state).is_enabled(&user.id.0).await?)
}

#[server(prefix = "/api", endpoint = "two-factor/begin")]
pub async fn begin_two_factor() -> Result<TwoFactorSetup, ApiError> {
    let user = ssr::user().await?;
    let state = ssr::state()?;
    let e = ssr::two_factor(&state)
        .begin(&user.id.0, &user.email)
        .await?;
    Ok(TwoFactorSetup {
        secret: e.secret,
        qr_svg: e.qr_svg,
    })
}

#[server(prefix = "/api", endpoint = "two-factor/confirm")]
pub async fn confirm_two_factor(code: String) -> Result<Vec<String>, ApiError> {
    let user = ssr::user().await?;
    let state = ssr::state()?;
    Ok(ssr::two_factor(&state)
        .confirm(&user.id.0, &code, ssr::unix_now())
        .await?)
}

#[server(prefix = "/api", endpoint = "two-factor/disable")]
pub async fn disable_two_factor(code: String) -> Result<(), ApiError> {
    let user = ssr::user().await?;
    let state = ssr::state()?;
    Ok(ssr::two_factor(&state)
        .disable(&user.id.0, &code, ssr::unix_now())
        .await?)
}
