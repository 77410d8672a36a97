//! `chorus --help`.

use crate::{ServeOptions, serve};
use chorus_config::ConfigErrors;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DEFAULT_CONFIG: &str = "config/chorus.yaml";

#[derive(Parser, Debug)]
#[command(
    name = "chorus",
    version,
    about = "Chorus: a self-hosted AI chat platform and gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Check a configuration file and print what is wrong with it.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage keys for the OpenAI-compatible API (`/v1`).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Manage groups of accounts (agents are shared with groups).
    Group {
        #[command(subcommand)]
        command: GroupCommand,
        #[arg(long, env = "CHORUS_DATA_DIR", default_value = "./data", global = true)]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// List the groups and their members.
    List,
    /// Create a group.
    Create { name: String },
    /// Delete a group (agents shared with it are no longer shared with its members).
    Delete { name: String },
    /// Add accounts to a group.
    Add {
        group: String,
        #[arg(required = true)]
        emails: Vec<String>,
    },
    /// Remove accounts from a group.
    Remove {
        group: String,
        #[arg(required = true)]
        emails: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ApiKeyCommand {
    /// Create a key for an account and print it (it is shown only this once).
    Create {
        #[arg(long)]
        email: String,
        /// A name to tell the key apart in the key list.
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, env = "CHORUS_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create an account (works even when registration is turned off).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Make the account an administrator.
        #[arg(long)]
        admin: bool,
        #[arg(long, env = "CHORUS_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CHORUS_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Where the embedded database and other state live.
    #[arg(long, env = "CHORUS_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Configuration file [default: config/chorus.yaml when present].
    #[arg(long, env = "CHORUS_CONFIG")]
    config: Option<PathBuf>,
}

pub async fn run(cli: Cli) -> ExitCode {
    crate::init_tracing();
    match cli.command {
        None => serve_cmd(cli.serve).await,
        Some(Command::Serve(args)) => serve_cmd(args).await,
        Some(Command::CheckConfig { file }) => match chorus_config::load_file(&file) {
            Ok(loaded) => {
                report_ignored(&loaded);
                println!(
                    "{}: OK ({} endpoint(s))",
                    file.display(),
                    loaded.config.endpoints.all().len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => config_failed(&errors),
        },
        Some(Command::User(UserCommand::Create {
            email,
            password,
            name,
            admin,
            data_dir,
        })) => {
            let Some(store) = open_store(&data_dir).await else {
                return ExitCode::FAILURE;
            };
            match chorus_auth::create_user(&store, &email, &name, &password, admin).await {
                Ok(user) => {
                    println!(
                        "created {} ({}){}",
                        user.email,
                        user.id,
                        if user.is_admin { ", administrator" } else { "" }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Group { command, data_dir }) => {
            let Some(store) = open_store(&data_dir).await else {
                return ExitCode::FAILURE;
            };
            match group_cmd(&store, command).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::ApiKey(ApiKeyCommand::Create {
            email,
            name,
            data_dir,
        })) => {
            let Some(store) = open_store(&data_dir).await else {
                return ExitCode::FAILURE;
            };
            let user = match store.user_by_email(&email).await {
                Ok(Some(u)) => u,
                Ok(None) => {
                    eprintln!("error: no account with the email {email}");
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match store
                .create_api_key(&chorus_types::UserId(user.id), &name)
                .await
            {
                Ok(key) => {
                    println!("{}", key.secret);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn group_cmd(store: &chorus_store::Store, command: GroupCommand) -> Result<(), String> {
    use chorus_engine::groups;
    match command {
        GroupCommand::List => {
            for g in store.groups().await.map_err(|e| e.to_string())? {
                println!("{}\t{}", g.name, g.members.join(", "));
            }
        }
        GroupCommand::Create { name } => {
            groups::create_group(store, &name)
                .await
                .map_err(|e| e.to_string())?;
            println!("created group {:?}", name.trim());
        }
        GroupCommand::Delete { name } => {
            let id = group_id(store, &name).await?;
            store.delete_group(&id).await.map_err(|e| e.to_string())?;
            println!("deleted group {:?}", name.trim());
        }
        GroupCommand::Add { group, emails } => set_members(store, &group, &emails, true).await?,
        GroupCommand::Remove { group, emails } => {
            set_members(store, &group, &emails, false).await?
        }
    }
    Ok(())
}

async fn group_id(store: &chorus_store::Store, name: &str) -> Result<String, String> {
    match store.group_by_name(name.trim()).await {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(format!("there is no group named {:?}", name.trim())),
        Err(e) => Err(e.to_string()),
    }
}

async fn set_members(
    store: &chorus_store::Store,
    group: &str,
    emails: &[String],
    member: bool,
) -> Result<(), String> {
    let id = group_id(store, group).await?;
    for email in emails {
        chorus_engine::groups::set_group_member(store, &id, email, member)
            .await
            .map_err(|e| e.to_string())?;
        let done = if member { "added" } else { "removed" };
        println!("{done} {} ({:?})", email.trim(), group.trim());
    }
    Ok(())
}

/// Opens the data directory for a one-off command, explaining the usual failure.
async fn open_store(data_dir: &Path) -> Option<chorus_store::Store> {
    match chorus_store::Store::open_dir(data_dir).await {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!(
                "error: {e}\n(is a Chorus server running on this data directory? stop it first)"
            );
            None
        }
    }
}

async fn serve_cmd(args: ServeArgs) -> ExitCode {
    let loaded = match &args.config {
        Some(path) => chorus_config::load_file(path),
        None => chorus_config::load_optional(Path::new(DEFAULT_CONFIG)),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(errors) => return config_failed(&errors),
    };
    report_ignored(&loaded);
    let options = ServeOptions {
        addr: args.addr,
        data_dir: args.data_dir,
        config: loaded,
    };
    match serve(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report_ignored(loaded: &chorus_config::Loaded) {
    if let Some(src) = &loaded.source
        && !loaded.ignored_keys.is_empty()
    {
        tracing::warn!(
            file = %src.display(),
            keys = %loaded.ignored_keys.join(", "),
            "configuration keys Chorus does not use yet were ignored"
        );
    }
}

fn config_failed(errors: &ConfigErrors) -> ExitCode {
    eprintln!("Invalid configuration:");
    for e in &errors.0 {
        eprintln!("  {e}");
    }
    ExitCode::from(2)
}
