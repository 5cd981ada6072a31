//! `blankett api-key new`: makes a random key for the REST API, prints it once and the
//! `[[api_keys]]` entry (with only its SHA-256) for the configuration.

use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

use blankett_app::config::{ApiScope, valid_api_key_name};

/// `blankett api-key …`
#[derive(Debug, Args)]
pub struct ApiKeyArgs {
    #[command(subcommand)]
    pub command: ApiKeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make a new key: prints the key (once) and the TOML to add to the configuration.
    New {
        /// Who uses the key (a business system), e.g. `erp`; events say `api:<name>`.
        #[arg(long)]
        name: String,
        /// A scope: `cases:read`, `cases:write`, `documents:read` (repeat for several).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Only cases of this flow (repeat for several; default: every flow).
        #[arg(long = "flow")]
        flows: Vec<String>,
    },
}

/// A new key and its entry for the configuration.
pub struct NewKey {
    pub key: String,
    pub toml: String,
}

/// Makes a key: `bk_` and 32 random bytes in base64url.
pub fn new_key(name: &str, scopes: &[String], flows: &[String]) -> anyhow::Result<NewKey> {
    if !valid_api_key_name(name) {
        anyhow::bail!("--name: 1–64 characters a–z, A–Z, 0–9, `-`, `_` or `.`");
    }
    let mut parsed = Vec::new();
    for s in scopes {
        let scope = ApiScope::parse(s).ok_or_else(|| {
            anyhow::anyhow!("--scope: `{s}` is not cases:read, cases:write or documents:read")
        })?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let key = format!("bk_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let quote = |v: &str| toml::Value::String(v.to_owned()).to_string();
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    let mut toml = format!(
        "[[api_keys]]\nname = {}\nsha256 = {}\nscopes = {}\n",
        quote(name),
        quote(&hash),
        list(parsed.iter().map(|s| quote(s.as_str())).collect())
    );
    if !flows.is_empty() {
        toml.push_str(&format!(
            "flows = {}\n",
            list(flows.iter().map(|f| quote(f)).collect())
        ));
    }
    Ok(NewKey { key, toml })
}

pub fn run(args: ApiKeyArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ApiKeyCommand::New {
            name,
            scopes,
            flows,
        } => {
            let k = new_key(&name, &scopes, &flows)?;
            println!("The key (shown only now; give it to the business system):\n");
            println!("    {}\n", k.key);
            println!("Add this to the configuration (it holds only the key's SHA-256):\n");
            print!("{}", k.toml);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_new_key_is_random_and_its_entry_holds_only_its_hash() {
        let a = new_key(
            "erp",
            &["cases:read".into(), "cases:read".into()],
            &["avtal".into()],
        )
        .unwrap();
        let b = new_key("erp", &["cases:read".into()], &[]).unwrap();
        assert!(
            a.key.starts_with("bk_") && a.key.len() == 3 + 43,
            "{}",
            a.key
        );
        assert_ne!(a.key, b.key);
        assert!(!a.toml.contains(&a.key));
        let table: toml::Table = a.toml.parse().unwrap();
        let entry = &table["api_keys"][0];
        assert_eq!(
            entry["sha256"].as_str().unwrap(),
            hex::encode(Sha256::digest(a.key.as_bytes()))
        );
        assert_eq!(entry["scopes"].as_array().unwrap().len(), 1);
        assert_eq!(entry["flows"][0].as_str(), Some("avtal"));
        assert!(new_key("a b", &["cases:read".into()], &[]).is_err());
        assert!(new_key("erp", &["cases:delete".into()], &[]).is_err());
    }
}
