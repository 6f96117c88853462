//! Whole directory trees: `cp -r` and `sync`, in both directions.
//!
//! Both sides are read in key order and merged ([`plan`]): the local walk ([`local`]) and the
//! paginated listing ([`remote`]) are never held whole, so a tree of a million files costs
//! the same memory as one of ten. Each path becomes one step; up to `--jobs` steps run at
//! once ([`run`]), and every upload and download draws on one shared
//! [`osspart::TransferBudget`] of connections and buffered bytes. Progress and the per-file
//! records go through [`report`].

pub mod filter;
pub mod local;
pub mod mtime;
pub mod plan;
pub mod remote;
pub mod report;
pub mod run;

use std::path::Path;

use clap::{ArgMatches, Args};
use osspart::UploadOptions;

use crate::commands::parse_size;
use filter::{Rule, RuleKind};

/// What `--help` says about memory for tree transfers.
pub const MEMORY_HELP: &str = "Trees (cp -r, sync): at most --max-buffer bytes of file data \
(default 128 MiB) are held at once and at most --max-connections requests (default 16) carry \
data at once, whatever the number of files, --jobs, --parallel or --part-size; both sides are \
read in key order, page by page, so memory does not grow with the size of the tree.";

/// Flags of tree transfers (`cp -r` and `sync`).
#[derive(Debug, Args, Clone)]
pub struct TreeArgs {
    /// Files transferred at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub jobs: usize,
    /// Take only paths matching this glob (repeatable; with --exclude, the first matching
    /// rule wins; matched against the path relative to the tree).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out paths matching this glob (repeatable; `*.tmp`, `build/`, `docs/*.md`).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Follow symbolic links (loops are reported and not followed); default: skip them.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Compare by CRC-64 instead of size and modification time.
    #[arg(long, conflicts_with = "size_only")]
    pub checksum: bool,
    /// Compare by size alone.
    #[arg(long)]
    pub size_only: bool,
    /// Print what would be done, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop at the first failed file (default: go on and report all failures at the end).
    #[arg(long)]
    pub fail_fast: bool,
    /// Requests carrying data at once, across all files.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_connections: usize,
    /// File data held in memory at once, across all files.
    #[arg(long, default_value = "128MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_buffer: u64,
    /// `--include`/`--exclude` in command-line order (filled from the parsed matches).
    #[arg(skip)]
    pub rules: Vec<Rule>,
}

impl TreeArgs {
    /// The first tree-only flag given, for commands that need `-r` to use it.
    pub fn given(&self) -> Option<&'static str> {
        [
            (!self.include.is_empty(), "--include"),
            (!self.exclude.is_empty(), "--exclude"),
            (self.follow_symlinks, "--follow-symlinks"),
            (self.checksum, "--checksum"),
            (self.size_only, "--size-only"),
            (self.dry_run, "--dry-run"),
            (self.fail_fast, "--fail-fast"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }

    /// Fills [`TreeArgs::rules`] in command-line order from the subcommand's matches.
    pub fn take_rule_order(&mut self, matches: &ArgMatches) {
        let mut rules: Vec<(usize, Rule)> = Vec::new();
        for (id, kind) in [
            ("include", RuleKind::Include),
            ("exclude", RuleKind::Exclude),
        ] {
            let (Some(indices), Some(values)) =
                (matches.indices_of(id), matches.get_many::<String>(id))
            else {
                continue;
            };
            for (index, pattern) in indices.zip(values) {
                rules.push((
                    index,
                    Rule {
                        kind,
                        pattern: pattern.clone(),
                    },
                ));
            }
        }
        rules.sort_by_key(|(i, _)| *i);
        self.rules = rules.into_iter().map(|(_, r)| r).collect();
    }
}

/// Records the file's modification time as `x-oss-meta-mtime`, unless the user set one.
pub fn add_mtime(options: &mut UploadOptions, path: &Path) {
    let meta = &mut options.object.meta;
    if meta
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case(mtime::META_NAME))
    {
        return;
    }
    if let Ok(t) = std::fs::metadata(path).and_then(|m| m.modified()) {
        meta.push((mtime::META_NAME.to_owned(), mtime::format(t)));
    }
}

pub use run::run;
