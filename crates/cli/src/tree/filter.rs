//! `--include` / `--exclude` rules, matched against a file's path relative to the tree root
//! (`/` separators), in the order given: the first rule that matches decides. A path no rule
//! matches is included, unless every rule is an `--include` (so `--include '*.txt'` alone
//! selects the text files, as it reads).
//!
//! Patterns are globs: `*` and `?` stay within one path component, `**` spans components,
//! `[abc]` and `{a,b}` work as usual. A pattern without `/` matches the last component at any
//! depth (`*.log`); a pattern ending in `/` matches everything under such a directory
//! (`build/`); any other pattern matches the whole relative path (`docs/*.md`).

use globset::{Glob, GlobBuilder, GlobMatcher};

use crate::exit::BadArguments;

/// Whether a rule lets paths in or keeps them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// `--include`.
    Include,
    /// `--exclude`.
    Exclude,
}

/// One `--include` or `--exclude` pattern, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Include or exclude.
    pub kind: RuleKind,
    /// The glob.
    pub pattern: String,
}

/// Compiled rules.
#[derive(Debug, Clone)]
pub struct Filter {
    rules: Vec<(RuleKind, Target, GlobMatcher)>,
    default_include: bool,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Name,
    Path,
}

impl Filter {
    /// Compiles `rules` (in command-line order).
    pub fn new(rules: &[Rule]) -> Result<Filter, BadArguments> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let p = rule.pattern.trim_start_matches("./");
            let (target, glob) = if let Some(dir) = p.strip_suffix('/') {
                let dir = dir.trim_start_matches('/');
                if dir.contains('/') || p.starts_with('/') {
                    (Target::Path, format!("{dir}/**"))
                } else {
                    (Target::Path, format!("{{{dir},**/{dir}}}/**"))
                }
            } else if let Some(anchored) = p.strip_prefix('/') {
                (Target::Path, anchored.to_owned())
            } else if p.contains('/') {
                (Target::Path, p.to_owned())
            } else {
                (Target::Name, p.to_owned())
            };
            let matcher = GlobBuilder::new(&glob)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map(|g: Glob| g.compile_matcher())
                .map_err(|e| BadArguments(format!("bad pattern {:?}: {e}", rule.pattern)))?;
            compiled.push((rule.kind, target, matcher));
        }
        let default_include = rules.iter().any(|r| r.kind == RuleKind::Exclude) || rules.is_empty();
        Ok(Filter {
            rules: compiled,
            default_include,
        })
    }

    /// Whether the file at relative path `rel` takes part.
    pub fn includes(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        for (kind, target, matcher) in &self.rules {
            let subject = match target {
                Target::Name => name,
                Target::Path => rel,
            };
            if matcher.is_match(subject) {
                return *kind == RuleKind::Include;
            }
        }
        self.default_include
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(rules: &[(&str, &str)]) -> Filter {
        let rules: Vec<Rule> = rules
            .iter()
            .map(|(k, p)| Rule {
                kind: if *k == "+" {
                    RuleKind::Include
                } else {
                    RuleKind::Exclude
                },
                pattern: (*p).to_owned(),
            })
            .collect();
        Filter::new(&rules).unwrap()
    }

    #[test]
    fn no_rules_take_everything() {
        assert!(Filter::new(&[]).unwrap().includes("any/thing"));
    }

    #[test]
    fn first_match_wins() {
        let f = filter(&[("+", "keep.log"), ("-", "*.log")]);
        assert!(f.includes("a/keep.log"));
        assert!(!f.includes("a/other.log"));
        // What no rule matches goes.
        assert!(f.includes("x/y.txt"));
        let f = filter(&[("-", "*.log")]);
        assert!(f.includes("x/y.txt"));
        assert!(!f.includes("deep/er/z.log"));
    }

    #[test]
    fn includes_alone_select() {
        let f = filter(&[("+", "*.txt")]);
        assert!(f.includes("a.txt"));
        assert!(f.includes("d/b.txt"));
        assert!(!f.includes("d/b.bin"));
        let f = filter(&[("-", "tmp/"), ("+", "*.txt")]);
        assert!(!f.includes("tmp/a.txt"));
        assert!(!f.includes("x/tmp/a.txt"));
        assert!(f.includes("tmpx/a.txt"));
        // Mixed rules: what none matches goes.
        assert!(f.includes("c.log"));
    }

    #[test]
    fn path_patterns_and_separators() {
        let f = filter(&[("+", "docs/*.md")]);
        assert!(f.includes("docs/a.md"));
        assert!(!f.includes("docs/sub/a.md"));
        assert!(!f.includes("x/docs/a.md"));
        let f = filter(&[("+", "docs/**/*.md")]);
        assert!(f.includes("docs/sub/deeper/a.md"));
        let f = filter(&[("-", "/top.txt")]);
        assert!(!f.includes("top.txt"));
        assert!(f.includes("sub/top.txt"));
        let f = filter(&[("-", "name with space?.txt")]);
        assert!(!f.includes("d/name with space1.txt"));
        assert!(Filter::new(&[Rule {
            kind: RuleKind::Include,
            pattern: "[".into()
        }])
        .is_err());
    }
}
