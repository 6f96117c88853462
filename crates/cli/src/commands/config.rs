//! `osspart config`: writes the config file (secrets with mode 0600), at its top level or in a
//! `[profile.NAME]` table. A secret is asked for, never needed on the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::bail;
use clap::Args;

use crate::exit::BadArguments;
use crate::settings::{config_path, write_config, ConfigFile};
use crate::GlobalArgs;

/// Flags of `osspart config` (endpoint, region, keys, sign, path style and profile come from
/// the global flags). Given `--access-key-id` without `--access-key-secret`, the secret is
/// asked for without echo on a terminal, or read as one line from standard input.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// STS security token to store with the keys.
    #[arg(long)]
    session_token: Option<String>,
    /// A command printing credentials as JSON (aliyun CLI `process` mode), instead of keys.
    #[arg(long, value_name = "COMMAND")]
    credential_process: Option<String>,
    /// The ECS RAM role whose keys the instance metadata service hands out, instead of keys.
    #[arg(long, value_name = "ROLE")]
    ecs_ram_role: Option<String>,
    /// Print the current file (secrets and tokens masked) instead of writing.
    #[arg(long)]
    show: bool,
}

/// Writes (or shows) the config file, merging the given values into what it already holds.
pub fn run(
    args: ConfigArgs,
    global: &GlobalArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<()> {
    let path = global.config.clone().unwrap_or_else(|| config_path(env));
    let mut file = ConfigFile::read(&path)?;
    if args.show {
        println!("# {}", path.display());
        print!("{}", toml::to_string_pretty(&file.masked())?);
        return Ok(());
    }
    let kinds = [
        global.access_key_id.is_some() || global.access_key_secret.is_some(),
        args.credential_process.is_some(),
        args.ecs_ram_role.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        bail!(BadArguments(
            "give one of access keys, --credential-process and --ecs-ram-role".into()
        ));
    }
    if args.session_token.is_some() && global.access_key_id.is_none() {
        bail!(BadArguments(
            "--session-token belongs to keys: give --access-key-id with it".into()
        ));
    }
    let secret = match (&global.access_key_id, &global.access_key_secret) {
        (Some(_), None) => Some(ask_secret()?),
        (_, secret) => secret.clone(),
    };
    let profile = global.profile.clone().or_else(|| env("OSS_PROFILE"));
    let table = match &profile {
        Some(name) => file.profile.entry(name.clone()).or_default(),
        None => &mut file,
    };
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if let Some(v) = v {
            *slot = Some(v.clone());
        }
    };
    set(&mut table.endpoint, &global.endpoint);
    set(&mut table.region, &global.region);
    set(&mut table.sign, &global.sign);
    if global.path_style {
        table.path_style = Some(true);
    }
    // One kind of credentials per table: new ones replace whatever kind was there.
    if kinds[0] {
        table.credential_process = None;
        table.ecs_ram_role = None;
        if global.access_key_id.is_some() {
            // A token belongs to the keys it came with.
            table.session_token = args.session_token.clone();
        }
        set(&mut table.access_key_id, &global.access_key_id);
        set(&mut table.access_key_secret, &secret);
    }
    if kinds[1] || kinds[2] {
        table.access_key_id = None;
        table.access_key_secret = None;
        table.session_token = None;
        table.credential_process = args.credential_process.clone();
        table.ecs_ram_role = args.ecs_ram_role.clone();
    }
    write_config(&path, &file)?;
    match profile {
        Some(name) => println!("wrote profile {name} in {}", path.display()),
        None => println!("wrote {}", path.display()),
    }
    Ok(())
}

/// The AccessKeySecret: asked for without echo on a terminal, else one line of standard input.
fn ask_secret() -> anyhow::Result<String> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("AccessKeySecret: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let secret = secret.trim_end_matches(['\r', '\n']).to_owned();
    if secret.is_empty() {
        bail!(BadArguments(
            "no AccessKeySecret given (type it at the prompt, or pipe it on standard input)".into()
        ));
    }
    Ok(secret)
}
