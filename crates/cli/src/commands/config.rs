//! `osspart config`: writes the config file (secrets with mode 0600).

use clap::Args;

use crate::settings::{config_path, write_config, ConfigFile};
use crate::GlobalArgs;

/// Flags of `osspart config` (endpoint, region, keys, sign and path style come from the global
/// flags).
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// STS security token to store.
    #[arg(long)]
    session_token: Option<String>,
    /// Print the current file instead of writing.
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
    let mut file: ConfigFile = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text)?,
        Err(_) => ConfigFile::default(),
    };
    if args.show {
        let mut shown = file.clone();
        if shown.access_key_secret.is_some() {
            shown.access_key_secret = Some("********".into());
        }
        println!("# {}", path.display());
        print!("{}", toml::to_string_pretty(&shown)?);
        return Ok(());
    }
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if let Some(v) = v {
            *slot = Some(v.clone());
        }
    };
    set(&mut file.endpoint, &global.endpoint);
    set(&mut file.region, &global.region);
    set(&mut file.access_key_id, &global.access_key_id);
    set(&mut file.access_key_secret, &global.access_key_secret);
    set(&mut file.session_token, &args.session_token);
    set(&mut file.sign, &global.sign);
    if global.path_style {
        file.path_style = Some(true);
    }
    write_config(&path, &file)?;
    println!("wrote {}", path.display());
    Ok(())
}
