//! Browser side of the composer's Attach: the chosen files go to
//! `POST /api/attachments` as multipart form data (server functions take
//! URL-encoded arguments, which cannot carry files).

use chorus_types::CodeFileView;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileList, FormData, RequestInit, Response};

/// Uploads `files` as attachments; returns them as attached, or what went
/// wrong in words. The files are read into the form at once, so the input
/// can be cleared while they upload.
pub fn upload(
    files: &FileList,
) -> impl std::future::Future<Output = Result<Vec<CodeFileView>, String>> + use<> {
    upload_to("/api/attachments".into(), files)
}

/// Uploads `files` to `url` (a multipart route answering with the files).
pub fn upload_to(
    url: String,
    files: &FileList,
) -> impl std::future::Future<Output = Result<Vec<CodeFileView>, String>> + use<> {
    let form = form_of(files);
    async move {
        let sent = match form {
            Ok(form) => send(&url, form).await,
            Err(e) => Err(e),
        };
        sent.map_err(|e| {
            e.as_string()
                .unwrap_or_else(|| "The upload failed; try again.".into())
        })
    }
}

fn form_of(files: &FileList) -> Result<FormData, JsValue> {
    let form = FormData::new()?;
    for i in 0..files.length() {
        if let Some(file) = files.item(i) {
            form.append_with_blob_and_filename("file", &file, &file.name())?;
        }
    }
    Ok(form)
}

async fn send(url: &str, form: FormData) -> Result<Vec<CodeFileView>, JsValue> {
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&form);
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| JsValue::from_str("The server could not be reached; check your connection."))?
        .dyn_into()?;
    let body = JsFuture::from(response.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    match response.status() {
        200 => serde_json::from_str(&body).map_err(|e| JsValue::from_str(&e.to_string())),
        413 => Err("These files are larger than this server accepts.".into()),
        _ => Err(JsValue::from_str(&error_message(&body))),
    }
}

/// The message of an `{"error": {"message": …}}` body, or the body itself.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(String::from))
        .unwrap_or_else(|| body.to_string())
}

/// The picture as a `data:` URL (an agent's avatar is kept in its record).
/// Refuses large files before reading them.
pub async fn data_url(file: &web_sys::File) -> Result<String, String> {
    const MAX_BYTES: f64 = 190.0 * 1024.0;
    if file.size() > MAX_BYTES {
        return Err("The picture is too large: at most 190 KB.".into());
    }
    let read = async {
        let reader = web_sys::FileReader::new()?;
        let done = js_sys::Promise::new(&mut |resolve, reject| {
            reader.set_onload(Some(resolve.unchecked_ref()));
            reader.set_onerror(Some(reject.unchecked_ref()));
        });
        reader.read_as_data_url(file)?;
        JsFuture::from(done).await?;
        reader.result()
    };
    read.await
        .ok()
        .and_then(|v| v.as_string())
        .ok_or_else(|| "The picture could not be read.".to_string())
}

/// The file input an `on:change` came from and the files chosen in it (none
/// chosen: `None`). Read them before clearing the input (which lets the same
/// file be chosen again).
pub fn chosen_files(ev: &web_sys::Event) -> Option<(web_sys::HtmlInputElement, FileList)> {
    let input = ev.target()?.dyn_into::<web_sys::HtmlInputElement>().ok()?;
    let files = input.files().filter(|f| f.length() > 0)?;
    Some((input, files))
}
